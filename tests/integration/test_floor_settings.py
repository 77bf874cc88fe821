"""Floor settings through the API (layout, cart capacity, auto release) and the worker's automatic
wave release a set time before the cut-off, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from floor_helpers import order_status, place
from sqlalchemy import select, update

from qoima.db import tables as t
from qoima.floor.services import waves


def test_settings_are_checked_and_stored(client, world):
    h = world.headers("manager")
    good = {"aisles": 6, "aisle_length": 20, "aisle_spacing": 3, "depot_aisle": 2, "cross_aisles": [10],
            "cart_capacity": 4, "auto_release_minutes": 30}
    r = client.put("/api/v1/floor/settings/ALA", json=good, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["cross_aisles"] == [10] and r.json()["cart_capacity"] == 4
    assert client.get("/api/v1/floor/settings/ALA", headers=h).json()["depot_aisle"] == 2
    bad = client.put("/api/v1/floor/settings/ALA", json={**good, "depot_aisle": 6}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "depot_aisle"
    bad = client.put("/api/v1/floor/settings/ALA", json={**good, "cross_aisles": [25]}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "cross_aisles"
    assert client.put("/api/v1/floor/settings/ALA", json=good, headers=world.headers("worker")).status_code == 403


def test_auto_release_takes_what_is_due_within_the_lead_time(client, world):
    h = world.headers("manager")
    soon = place(client, world, "AUTO-1", [("SKU-1", 1)])
    later = place(client, world, "AUTO-2", [("SKU-1", 1)])
    with world.engine.begin() as conn:
        now = conn.execute(select(t.orders.c.received_at).where(t.orders.c.id == soon)).scalar_one()
        conn.execute(update(t.orders).where(t.orders.c.id == soon).values(ship_by=now + timedelta(minutes=20)))
        conn.execute(update(t.orders).where(t.orders.c.id == later).values(ship_by=now + timedelta(hours=5)))
    assert waves.auto_release(world.engine, now) == 0  # no warehouse has a lead time yet
    settings = {"aisles": 6, "aisle_length": 20, "aisle_spacing": 3, "auto_release_minutes": 30}
    assert client.put("/api/v1/floor/settings/ALA", json=settings, headers=h).status_code == 200
    assert waves.auto_release(world.engine, now) == 1
    assert order_status(world.engine, soon) == "picking" and order_status(world.engine, later) == "allocated"
    with world.engine.connect() as conn:
        assert conn.execute(select(t.waves.c.automatic)).scalars().all() == [True]
