"""The administration pages: warehouses with their calendar and holidays (which set ship-by), locations one
by one and from a pattern (preview, bounds, skipped codes), sellers and users edited, deactivated, re-passworded."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from conftest import order_payload
from sqlalchemy import select
from test_web_pages import PASSWORD, csrf_of, login

from qoima.db import tables as t
from qoima.orders.schemas import OrderIn
from qoima.orders.services.intake import submit_order
from qoima.platform.access import SYSTEM


def sign_in(client, email: str, password: str = PASSWORD):
    """Signed in, the pages in English (the switch is kept in the session)."""
    r = login(client, email, password)
    client.get("/?lang=en")
    return r


def _warehouse(engine, code: str):
    with engine.connect() as conn:
        w = conn.execute(select(t.warehouses).where(t.warehouses.c.code == code)).first()
        days = conn.execute(select(t.warehouse_holidays.c.day, t.warehouse_holidays.c.name)
                            .where(t.warehouse_holidays.c.warehouse_id == w.id).order_by("day")).all()
    return w, [tuple(d) for d in days]


FORM = {"code": "KRG", "name": "Karaganda", "city": "Karaganda", "timezone": "Asia/Almaty", "cutoff_time": "13:00",
        "handover_time": "17:30", "working_days": ["1", "2", "3", "4", "5", "6"],
        "holidays": "2026-12-16 Independence Day\n2026-12-17"}


def test_admin_creates_and_edits_a_warehouse_with_holidays(client, world):
    sign_in(client, "admin@qoima.local")
    token = csrf_of(client.get("/admin/warehouses").text)
    r = client.post("/admin/warehouses", data={"csrf": token, **FORM}, follow_redirects=False)
    assert r.status_code == 303, r.text
    w, days = _warehouse(world.engine, "KRG")
    assert (w.cutoff_time, w.handover_time, w.working_days) == ("13:00", "17:30", "123456")
    assert days == [(date(2026, 12, 16), "Independence Day"), (date(2026, 12, 17), "")]
    page = client.get("/admin/warehouses/KRG").text
    assert "2026-12-16 Independence Day" in page and 'value="6" checked' in page and 'value="7" checked' not in page
    r = client.post("/admin/warehouses/KRG", data={"csrf": token, **FORM, "name": "Karaganda 2",
                                                   "working_days": ["1", "7"], "holidays": "2027-01-01 New Year"},
                    follow_redirects=False)
    assert r.status_code == 303
    w, days = _warehouse(world.engine, "KRG")
    assert (w.name, w.working_days, days) == ("Karaganda 2", "17", [(date(2027, 1, 1), "New Year")])


@pytest.mark.parametrize("change, field_text", [
    ({"timezone": "Mars/Olympus"}, "Time zone: unknown time zone 'Mars/Olympus'"),
    ({"cutoff_time": "25:99"}, "Cut-off time: a time as HH:MM is needed"),
    ({"working_days": []}, "Working days: choose at least one"),
    ({"holidays": "16.12.2026 Independence"}, "Holidays, line 1: a date as YYYY-MM-DD"),
    ({"code": "ALA"}, "Code: a warehouse ALA already exists"),
    ({"name": ""}, "Name: required"),
])
def test_bad_warehouse_fields_are_named(client, world, change, field_text):
    sign_in(client, "admin@qoima.local")
    token = csrf_of(client.get("/admin/warehouses").text)
    r = client.post("/admin/warehouses", data={"csrf": token, **FORM, **change})
    assert r.status_code == 422 and field_text in r.text.replace("&#39;", "'"), r.text[-3000:]
    assert _warehouse(world.engine, "ALA")[0].name == "ALA"  # nothing written
    with world.engine.connect() as conn:
        assert conn.execute(select(t.warehouses.c.id).where(t.warehouses.c.code == "KRG")).first() is None


def test_russian_messages_name_the_field(client, world):
    sign_in(client, "admin@qoima.local")
    token = csrf_of(client.get("/admin/warehouses?lang=ru").text)
    r = client.post("/admin/warehouses", data={"csrf": token, **FORM, "timezone": "Nowhere"})
    assert r.status_code == 422 and "Часовой пояс" in r.text


def test_a_holiday_moves_ship_by(client, world):
    """Friday 4 December 2026 after the cut-off in Almaty: Monday; with Monday a holiday, Tuesday."""
    sign_in(client, "admin@qoima.local")
    token = csrf_of(client.get("/admin/warehouses").text)
    received = datetime(2026, 12, 4, 10, 0)  # 15:00 in Almaty
    first, _ = submit_order(world.engine, SYSTEM, OrderIn(**order_payload("H-1", received_at=received)))
    assert first["ship_by"] == datetime(2026, 12, 7, 13, 0)
    r = client.post("/admin/warehouses/ALA", data={"csrf": token, "code": "ALA", "name": "ALA", "city": "ALA",
                                                   "timezone": "Asia/Almaty", "cutoff_time": "14:00",
                                                   "handover_time": "18:00", "working_days": list("12345"),
                                                   "holidays": "2026-12-07 Day off"}, follow_redirects=False)
    assert r.status_code == 303
    second, _ = submit_order(world.engine, SYSTEM, OrderIn(**order_payload("H-2", received_at=received)))
    assert second["ship_by"] == datetime(2026, 12, 8, 13, 0)


def _locations(engine, code="ALA"):
    with engine.connect() as conn:
        return {r.code: r for r in conn.execute(select(t.locations).join(t.warehouses)
                                                .where(t.warehouses.c.code == code))}


def test_locations_from_a_pattern_with_preview_and_skips(client, world):
    sign_in(client, "manager@qoima.local")  # managers run the locations
    page = client.get("/admin/warehouses/ALA/locations")
    assert page.status_code == 200 and "A-01" in page.text
    token = csrf_of(page.text)
    form = {"csrf": token, "pattern": "A-01..03-01..04-1..2", "kind": "storage", "bay_width": "1.5"}
    preview = client.post("/admin/warehouses/ALA/locations/pattern", data=form)
    assert preview.status_code == 200 and 'data-preview-count="24"' in preview.text
    assert "A-01-01-1" in preview.text and "A-03-04-2" in preview.text
    assert "A-01-01-1" not in _locations(world.engine)  # a preview writes nothing
    done = client.post("/admin/warehouses/ALA/locations/pattern", data={**form, "confirm": "1"},
                       follow_redirects=False)
    assert done.status_code == 303
    locs = _locations(world.engine)
    cell = locs["A-02-03-2"]
    assert (cell.zone, cell.aisle, cell.position, cell.level, cell.x, cell.y, cell.kind) == \
        ("A", "02", "03", "2", 1.0, 3.75, "storage")
    again = client.post("/admin/warehouses/ALA/locations/pattern",
                        data={**form, "pattern": "A-03..04-04-2", "confirm": "1"})
    assert again.status_code == 200  # followed to the list
    assert "1 location created." in again.text and "1 already existed and was skipped: A-03-04-2" in again.text
    assert "A-04-04-2" in _locations(world.engine)


@pytest.mark.parametrize("change, text", [
    ({"pattern": "A-1..200-1..200"}, "Pattern: it makes 40000 locations, at most 20000 at once"),
    ({"pattern": "A-20..01-1"}, "runs backwards"),
    ({"pattern": "nonsense"}, "Pattern: ZONE-AISLES-BAYS"),
    ({"bay_width": "0"}, "Bay width: above 0"),
    ({"bay_width": "wide"}, "Bay width: above 0"),
    ({"kind": "attic"}, "Kind: choose one of the list"),
])
def test_bad_patterns_are_refused_and_write_nothing(client, world, change, text):
    sign_in(client, "admin@qoima.local")
    token = csrf_of(client.get("/admin/warehouses/ALA/locations").text)
    before = len(_locations(world.engine))
    r = client.post("/admin/warehouses/ALA/locations/pattern",
                    data={"csrf": token, "pattern": "B-1..2-1", "kind": "storage", "bay_width": "1", "confirm": "1",
                          **change})
    assert r.status_code == 422 and text in r.text, r.text[-2000:]
    assert len(_locations(world.engine)) == before


def test_one_location_by_hand(client, world):
    sign_in(client, "admin@qoima.local")
    token = csrf_of(client.get("/admin/warehouses/AST/locations").text)
    r = client.post("/admin/warehouses/AST/locations", data={"csrf": token, "location": "RET-1", "kind": "returns",
                                                             "x": "4", "y": "2.5"}, follow_redirects=False)
    assert r.status_code == 303
    loc = _locations(world.engine, "AST")["RET-1"]
    assert (loc.kind, loc.x, loc.y) == ("returns", 4.0, 2.5)
    bad = client.post("/admin/warehouses/AST/locations", data={"csrf": token, "location": "X", "x": "far"})
    assert bad.status_code == 422 and "x: a number between" in bad.text
    assert client.get("/admin/warehouses/NOPE/locations").status_code == 404


def test_worker_and_manager_rights(client, world):
    sign_in(client, "manager@qoima.local")
    page = client.get("/admin/warehouses")
    assert page.status_code == 200 and "/admin/warehouses/ALA/locations" in page.text
    assert 'action="/admin/warehouses"' not in page.text  # no edit form for a manager
    assert client.get("/admin/warehouses/ALA").status_code == 403
    client.cookies.clear()
    sign_in(client, "worker@qoima.local")
    assert client.get("/admin/warehouses").status_code == 403
    assert client.get("/admin/warehouses/ALA/locations").status_code == 403


def test_admin_edits_a_seller(client, world):
    sign_in(client, "admin@qoima.local")
    page = client.get("/admin/sellers?edit=seller-a").text
    assert 'action="/admin/sellers/seller-a"' in page
    token = csrf_of(page)
    r = client.post("/admin/sellers/seller-a", data={"csrf": token, "name": "Seller A Ltd", "webhook_url": ""},
                    follow_redirects=False)
    assert r.status_code == 303
    bad = client.post("/admin/sellers/seller-a", data={"csrf": token, "name": "", "webhook_url": ""})
    assert bad.status_code == 422 and "The seller was not saved" in bad.text
    unsafe = client.post("/admin/sellers/seller-a", data={"csrf": token, "name": "A", "webhook_url": "http://127.0.0.1/x"})
    assert unsafe.status_code == 422 and "Webhook URL:" in unsafe.text
    with world.engine.connect() as conn:
        assert conn.execute(select(t.sellers.c.name).where(t.sellers.c.code == "seller-a")).scalar() == "Seller A Ltd"


def test_admin_edits_deactivates_and_resets_a_user(client, world):
    sign_in(client, "admin@qoima.local")
    uid = world.principals["worker"].user_id
    page = client.get(f"/admin/users?edit={uid}").text
    assert f'action="/admin/users/{uid}"' in page
    token = csrf_of(page)
    r = client.post(f"/admin/users/{uid}", data={"csrf": token, "full_name": "Floor Lead", "role": "manager",
                                                 "seller": "", "language": "en", "active": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    with world.engine.connect() as conn:
        row = conn.execute(select(t.users).where(t.users.c.id == uid)).first()
    assert (row.full_name, row.role, row.language, row.is_active) == ("Floor Lead", "manager", "en", True)
    bad = client.post(f"/admin/users/{uid}", data={"csrf": token, "role": "seller", "seller": "", "language": "en"})
    assert bad.status_code == 422 and "Seller:" in bad.text
    short = client.post(f"/admin/users/{uid}/password", data={"csrf": token, "password": "short"})
    assert short.status_code == 422 and "Password:" in short.text and "8 characters" in short.text
    assert client.post(f"/admin/users/{uid}/password", data={"csrf": token, "password": "brand-new-pass"},
                       follow_redirects=False).status_code == 303
    other = client.__class__(client.app)
    assert login(other, "worker@qoima.local", "brand-new-pass").status_code == 303
    assert client.post(f"/admin/users/{uid}/deactivate", data={"csrf": token},
                       follow_redirects=False).status_code == 303
    assert other.get("/", follow_redirects=False).status_code in (302, 303)  # the session ended
    assert login(other, "worker@qoima.local", "brand-new-pass").status_code != 303  # and no sign-in
    me = world.principals["admin"].user_id
    self_off = client.post(f"/admin/users/{me}/deactivate", data={"csrf": token})
    assert self_off.status_code == 422  # an admin cannot lock themselves out
    assert login(client.__class__(client.app), "admin@qoima.local", PASSWORD).status_code == 303


def test_control_characters_are_refused_naming_the_field(client, world):
    """A NUL would make PostgreSQL refuse the row (a 500): every text field of these forms refuses it first."""
    sign_in(client, "admin@qoima.local")
    token = csrf_of(client.get("/admin/warehouses").text)
    r = client.post("/admin/warehouses", data={"csrf": token, **FORM, "city": "Kara\x00ganda"})
    assert r.status_code == 422 and "City: a control character is not allowed" in r.text
    r = client.post("/admin/warehouses/ALA/locations", data={"csrf": token, "location": "X\x00"})
    assert r.status_code == 422 and "Code: a control character" in r.text
    uid = world.principals["worker"].user_id
    r = client.post(f"/admin/users/{uid}", data={"csrf": token, "full_name": "A\x00", "role": "worker",
                                                 "language": "en", "active": "1"})
    assert r.status_code == 422 and "Full name:" in r.text
    r = client.post("/admin/sellers/seller-a", data={"csrf": token, "name": "A\x00"})
    assert r.status_code == 422 and "Name:" in r.text
