"""The floor's web forms: the shift lead releases a wave and edits the floor settings and box sizes;
bad numbers are a 422 page naming the field; the scanner pages load their script from /static."""

from __future__ import annotations

from conftest import order_payload
from sqlalchemy import select
from test_web_pages import csrf_of, login

from qoima.db import tables as t


def test_lead_releases_a_wave_and_edits_the_settings(client, world):
    r = client.post("/api/v1/orders", json=order_payload("PG-1", [("SKU-1", 1)]), headers=world.headers("seller_a"))
    assert r.status_code == 201
    assert login(client, "manager@qoima.local").status_code == 303
    page = client.get("/floor/waves?warehouse=ALA&lang=en")
    assert page.status_code == 200 and "Waiting for a wave" in page.text
    token = csrf_of(page.text)
    r = client.post("/floor/waves", data={"csrf": token, "warehouse": "ALA", "carrier": "courier"})
    assert r.status_code == 200 and "Wave released: 1 shipment(s), 1 pick task(s)." in r.text
    form = {"csrf": token, "warehouse": "ALA", "aisles": "5", "aisle_length": "12.5", "aisle_spacing": "3",
            "depot_aisle": "0", "cross_aisles": "6", "cart_capacity": "8", "auto_release_minutes": "45"}
    r = client.post("/floor/settings", data=form)
    assert r.status_code == 200 and "Floor settings saved." in r.text
    with world.engine.connect() as conn:
        row = conn.execute(select(t.warehouses.c.cart_capacity, t.warehouses.c.auto_release_minutes)
                           .where(t.warehouses.c.code == "ALA")).first()
    assert tuple(row) == (8, 45)
    bad = client.post("/floor/settings", data={**form, "aisles": "0"})
    assert bad.status_code == 422 and "aisles" in bad.text
    r = client.post("/floor/boxes", data={"csrf": token, "warehouse": "ALA", "code": "xs", "length_mm": "100",
                                          "width_mm": "80", "height_mm": "50", "max_weight_g": "1000", "active": "1"})
    assert r.status_code == 200 and "Box XS saved." in r.text
    scan = client.get("/floor/scan?warehouse=ALA")
    assert scan.status_code == 200 and 'src="/static/floor.js"' in scan.text and "<script>" not in scan.text
