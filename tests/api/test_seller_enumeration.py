"""A seller user cannot tell another seller's code from one that does not exist. Reproduces the
finding first: 403 "you may act only for your own seller" against 422 "unknown seller" let a seller
list every other seller's code. Now both get 422 with the same message (catalog/domain/sellers.py)."""

from __future__ import annotations

from conftest import order_payload


def answer(r, code: str) -> tuple:
    body = r.json()
    return r.status_code, r.headers["content-type"], body["title"], body["detail"].replace(code, "<code>"), \
        body.get("field")


def test_unknown_and_not_yours_give_one_answer(client, world):
    b = world.headers("seller_b")
    calls = {
        "order": lambda code: client.post("/api/v1/orders", json=order_payload("ENUM-1", seller=code), headers=b),
        "product": lambda code: client.post("/api/v1/products", json={"seller": code, "sku": "E-1", "name": "x"},
                                            headers=b),
        "stock filter": lambda code: client.get("/api/v1/stock", params={"seller": code}, headers=b),
    }
    for name, call in calls.items():
        theirs, nobody = call("seller-a"), call("no-such-seller")
        assert theirs.status_code == 422, (name, theirs.text)
        assert answer(theirs, "seller-a") == answer(nobody, "no-such-seller"), name
        assert "your own seller" not in theirs.text


def test_staff_still_get_a_clear_unknown_seller(client, world):
    r = client.post("/api/v1/orders", json=order_payload("ENUM-3", seller="nope"), headers=world.headers("manager"))
    assert r.status_code == 422 and r.json()["detail"] == "unknown seller 'nope'" and r.json()["field"] == "seller"
    ok = client.post("/api/v1/orders", json=order_payload("ENUM-4", seller="seller-a"),
                     headers=world.headers("manager"))
    assert ok.status_code == 201
