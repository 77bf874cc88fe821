"""OpenAPI says what the API answers: problem+json for every 4xx that can occur, the export
content types, 202 for import jobs, the bounds of every input (platform/bounds.py); /docs works."""

from __future__ import annotations

import pytest

from qoima.platform.bounds import INT32_MAX, INT64_MAX

PROBLEM = "application/problem+json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def spec(client):
    assert client.get("/docs").status_code == 200
    return client.get("/openapi.json").json()


def _ops(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_every_api_error_is_documented_as_problem_json(spec):
    for path, method, op in _ops(spec):
        if not path.startswith("/api/"):
            continue
        for code in ("401", "403", "422"):
            assert PROBLEM in op["responses"][code]["content"], (method, path, code)
            assert "application/json" not in op["responses"][code]["content"], (method, path, code)
        if "{" in path:
            assert PROBLEM in op["responses"]["404"]["content"], (method, path)
        if method == "post":
            assert PROBLEM in op["responses"]["400"]["content"], (method, path)


def test_imports_exports_and_conflicts(spec):
    for kind in ("orders", "products", "stock"):
        op = spec["paths"][f"/api/v1/{kind}/import"]["post"]
        assert "202" in op["responses"] and PROBLEM in op["responses"]["413"]["content"]
    content = spec["paths"]["/api/v1/customers"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv", XLSX} <= set(content)
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    for path in ("/api/v1/orders/{order_id}/transitions", "/api/v1/receipts", "/api/v1/moves", "/api/v1/orders"):
        assert PROBLEM in spec["paths"][path]["post"]["responses"]["409"]["content"], path


def test_bounds_are_in_the_schema(spec):
    schemas = spec["components"]["schemas"]
    order_id = spec["paths"]["/api/v1/orders/{order_id}"]["get"]["parameters"][0]["schema"]
    assert order_id["maximum"] == INT64_MAX and order_id["minimum"] == 1
    offset = next(p for p in spec["paths"]["/api/v1/orders"]["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"]["maximum"] == INT64_MAX
    q = next(p for p in spec["paths"]["/api/v1/orders"]["get"]["parameters"] if p["name"] == "q")
    assert q["schema"]["anyOf"][0]["maxLength"] == 200 and "\\x00" in q["schema"]["anyOf"][0]["pattern"]
    assert schemas["ReceiptLineIn"]["properties"]["received"]["maximum"] == INT32_MAX
    assert schemas["ProductIn"]["properties"]["category"]["maxLength"] == 100
    assert schemas["ProductIn"]["properties"]["weight_g"]["maximum"] == INT32_MAX
    assert schemas["SellerIn"]["properties"]["webhook_url"]["anyOf"][0]["maxLength"] == 500
    assert schemas["UserIn"]["properties"]["full_name"]["maxLength"] == 200
    price = schemas["LineIn"]["properties"]["unit_price"]["anyOf"]
    assert price[0]["maximum"] == 999999999999.99 and price[0]["multipleOf"] == 0.01
    assert "Text" not in str(schemas.keys())


def test_405_names_every_method_of_the_path(client, world):
    r = client.request("DELETE", "/api/v1/orders", headers=world.headers("admin"))
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    assert r.headers["content-type"] == PROBLEM
    r = client.get("/api/v1/orders/import", headers=world.headers("admin"))
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_each_wrong_field_says_its_kind(client, world):
    body = {"channel": "api", "external_id": "X" * 101, "lines": [{"sku": "SKU-1", "quantity": True,
                                                                  "unit_price": "1"}]}
    problem = client.post("/api/v1/orders", json=body, headers=world.headers("seller_a")).json()
    kinds = {e["field"]: e["type"] for e in problem["errors"]}
    assert kinds == {"external_id": "string_too_long", "lines[0].quantity": "int_type"}


def test_docs_work_offline(client):
    """/docs loads Swagger UI from this server (the fastapi-offline package's assets), nothing from outside,
    and its CSP allows no other origin; /redoc leads there."""
    import re
    script = "swagger-ui-bundle.js"
    r = client.get("/docs")
    assert r.status_code == 200 and script in r.text
    urls = re.findall(r'(?:src|href|url)\s*[=:]\s*["\']([^"\']+)["\']', r.text)
    assert urls, "the page names its assets"
    external = [u for u in urls if re.match(r"^(https?:)?//", u)]
    assert not external, f"/docs loads from outside: {external}"
    assert not re.search(r"https?://", r.text), "no external URL anywhere in the page"
    for url in urls:
        if url.startswith("/") and not url.startswith("/openapi"):
            asset = client.get(url)
            assert asset.status_code == 200 and asset.content, url
    assert any(u.endswith(script) for u in urls)
    csp = r.headers["content-security-policy"]
    assert "http" not in csp and "cdn" not in csp, csp
    assert client.get("/redoc", follow_redirects=False).headers["location"] == "/docs"
