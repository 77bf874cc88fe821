"""The API's problems keep an English `detail` and add a stable `code` with its `params`; the same
error is rendered in the reader's language from them (the web, a client)."""

from __future__ import annotations

from conftest import order_payload

from qoima.entrypoints.web import i18n
from qoima.platform.errors import ValidationError, localize

PROBLEM = "application/problem+json"


def test_an_invalid_transition_has_code_and_params_and_renders_in_every_language(client, world):
    r = client.post("/api/v1/orders", json=order_payload("CODE-1"), headers=world.headers("admin"))
    oid = r.json()["id"]
    bad = client.post(f"/api/v1/orders/{oid}/transitions", json={"status": "delivered"},
                      headers=world.headers("admin"))
    assert bad.status_code == 409 and bad.headers["content-type"] == PROBLEM
    p = bad.json()
    assert p["detail"] == "cannot move order from 'allocated' to 'delivered'"
    assert p["code"] == "orders.invalid_transition"
    assert p["params"] == {"from_status": "allocated", "to_status": "delivered"}
    # what a client (or the web) does with code + params: the message in its language, statuses labelled
    error = ValidationError("cannot move order from '%(from_status)s' to '%(to_status)s'", **p["params"])
    assert localize(error, i18n.gettext_of("ru"), i18n.PARAM_LABELS) == \
        "нельзя перевести заказ из «Зарезервирован» в «Доставлен»"
    shown = {lang: i18n.localize_error(error, lang) for lang in ("kk", "uk", "en")}
    assert shown["en"] == p["detail"].replace("'allocated'", "'Allocated'").replace("'delivered'", "'Delivered'")
    assert "Резервтелді" in shown["kk"] and "Доставлено" in shown["uk"]


def test_a_validation_error_and_the_timeline_carry_codes(client, world):
    bad = client.post("/api/v1/orders", json=order_payload("CODE-2", lines=(("NO-SUCH", 1),)),
                      headers=world.headers("admin"))
    assert bad.status_code == 422
    p = bad.json()
    assert p["code"] == "orders.unknown_sku" and p["params"] == {"sku": "NO-SUCH"}
    assert p["detail"] == "unknown SKU 'NO-SUCH' for this seller" and p["field"] == "lines[0].sku"
    oid = client.post("/api/v1/orders", json=order_payload("CODE-3"), headers=world.headers("admin")).json()["id"]
    order = client.get(f"/api/v1/orders/{oid}", headers=world.headers("admin")).json()
    assert order["sourcing_reason_code"] is not None and order["sourcing_reason_code"].startswith("sourcing.")
    assert [e["reason_code"] for e in order["timeline"]][0] == "timeline.received"
    assert i18n.localize_reason(order["timeline"][0]["reason"], "uk") == "отримано через канал «API»"


def test_a_rule_inside_the_schema_keeps_its_code_in_the_api_and_the_import(client, world):
    body = order_payload("CODE-5")
    body["customer"]["phone"] = "not a phone"
    bad = client.post("/api/v1/orders", json=body, headers=world.headers("admin"))
    assert bad.status_code == 422
    item = bad.json()["errors"][0]
    assert item["field"] == "customer.phone" and item["code"] == "contacts.bad_phone"
    assert item["params"] == {"phone": "not a phone"}
    assert i18n.localize_row({"template": "phone '%(phone)s' is not a phone number", **item}, "kk") == \
        "«not a phone» телефоны телефон нөмірі емес"
