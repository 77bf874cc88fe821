"""The console for a shift, through the web app: the header search box (straight to the one
match, else results by kind; roles and seller isolation), the orders list's sort, views and
page sizes, the dashboard tiles that list exactly what they count, and bulk actions on the
selected orders (per-order outcome, reasons, roles, CSRF, a second submit changing nothing)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import order_payload
from sqlalchemy import func, select, update
from test_web_pages import csrf_of, login, status_of

from qoima.catalog.domain.calendar import local_day_bounds
from qoima.db import tables as t
from qoima.orders.schemas import OrderIn
from qoima.orders.services.intake import submit_order
from qoima.platform.access import SYSTEM
from qoima.platform.unit_of_work import utcnow

ROW_IDS = re.compile(r'name="order" value="(\d+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def place(world, ext: str, seller: str = "seller-a", phone: str = "+77011234567", lines=(("SKU-1", 1),),
          email: str = "aigerim@example.kz") -> int:
    body = order_payload(ext, lines=lines, seller=seller)
    body["customer"].update(phone=phone, email=email)
    order, _ = submit_order(world.engine, SYSTEM, OrderIn(**body))
    return order["id"]


@pytest.fixture
def three(world) -> dict:
    return {"a1": place(world, "A-100"), "a2": place(world, "A-200", lines=(("SKU-2", 2),)),
            "b1": place(world, "B-100", seller="seller-b")}


def signed_in(client, email: str):
    assert login(client, email).status_code == 303
    return client


def csrf(client) -> str:
    return CSRF_META.search(client.get("/").text).group(1)


def listed(client, url: str) -> list[int]:
    r = client.get(url)
    assert r.status_code == 200, r.text[:300]
    return [int(x) for x in ROW_IDS.findall(r.text)]


# --- the header search box ------------------------------------------------------------------------------------

def test_the_header_box_is_on_every_page_and_goes_straight_to_a_single_order(client, world, three):
    signed_in(client, "a@seller-a.kz")
    assert 'action="/search"' in client.get("/orders").text
    solo = place(world, "A-300", phone="+77019998877", email="dana@example.kz")
    for q in ("8 701 999 88 77", "87019998877", f"#{solo}", str(solo), "a-300"):
        r = client.get("/search", params={"q": q}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/orders/{solo}", q


def test_several_matches_are_listed_by_kind(client, three):
    signed_in(client, "manager@qoima.local")
    r = client.get("/search", params={"q": "8 701 123 45 67"}, follow_redirects=False)
    assert r.status_code == 200
    assert 'id="found-orders"' in r.text and 'id="found-customers"' in r.text
    assert {f'href="/orders/{three[k]}"' in r.text for k in ("a1", "a2", "b1")} == {True}


def test_a_seller_finds_only_its_own_and_the_floor_no_customers(client, three):
    signed_in(client, "b@seller-b.kz")
    r = client.get("/search", params={"q": f"#{three['a1']}"}, follow_redirects=False)
    assert r.status_code == 200 and f"/orders/{three['a1']}" not in r.text
    r = client.get("/search", params={"q": "8 701 123 45 67"}, follow_redirects=False)
    assert r.headers["location"] == f"/orders/{three['b1']}"  # its own buyer's one order
    client.cookies.clear()
    signed_in(client, "worker@qoima.local")
    r = client.get("/search", params={"q": "8 701 123 45 67"}, follow_redirects=False)
    assert r.status_code == 200 and 'id="found-customers"' not in r.text and "+77011234567" not in r.text
    assert 'id="found-orders"' not in r.text
    r = client.get("/search", params={"q": f"#{three['a2']}"}, follow_redirects=False)
    assert r.headers["location"] == f"/orders/{three['a2']}"


def test_a_single_product_opens_its_stock(client, three):
    signed_in(client, "a@seller-a.kz")
    r = client.get("/search", params={"q": "4870000009022"}, follow_redirects=False)  # SKU-2's barcode
    assert r.status_code == 200 and 'id="found-products"' in r.text and f"/orders/{three['a2']}" in r.text
    r = client.get("/search", params={"q": "ITEM 2"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/stock?sku=SKU-2"
    page = client.get(r.headers["location"]).text
    assert "SKU-2" in page and "AST" in page
    assert "SKU-2" in client.get("/products", params={"q": "item 2"}).text
    assert "SKU-2" in client.get("/stock", params={"sku": "sku-2"}).text


# --- the orders list -------------------------------------------------------------------------------------------

def _deadlines(world, three):
    now = utcnow()
    end = local_day_bounds(now, "Asia/Almaty")[1]
    with world.engine.begin() as conn:
        for key, when in (("a1", now - timedelta(hours=1)), ("a2", now + min(timedelta(minutes=30), (end - now) / 2)),
                          ("b1", now + timedelta(days=2))):
            conn.execute(update(t.orders).where(t.orders.c.id == three[key]).values(ship_by=when))


def test_open_orders_first_soonest_ship_by_and_sortable(client, world, three):
    _deadlines(world, three)
    signed_in(client, "admin@qoima.local")
    cancelled = place(world, "A-400")
    r = client.post("/orders/bulk", data={"csrf": csrf(client), "action": "cancel", "reason": "test",
                                          "order": [cancelled]})
    assert r.status_code == 200
    assert listed(client, "/orders") == [three["a1"], three["a2"], three["b1"], cancelled]
    assert listed(client, "/orders?sort=-received") == [cancelled, three["b1"], three["a2"], three["a1"]]
    assert [i for i in listed(client, "/orders?sort=-ship_by") if i != cancelled] == [three["b1"], three["a2"], three["a1"]]
    assert [i for i in listed(client, "/orders?sort=ship_by") if i != cancelled] == [three["a1"], three["a2"], three["b1"]]
    assert listed(client, "/orders?sort=status")[-1] == cancelled
    assert listed(client, "/orders?view=open") == [three["a1"], three["a2"], three["b1"]]
    assert listed(client, "/orders?view=late") == listed(client, "/orders?late=1") == [three["a1"]]


def test_page_sizes_are_a_choice_and_pages_are_bounded(client, world):
    for i in range(30):
        place(world, f"P-{i}")
    signed_in(client, "manager@qoima.local")
    assert len(listed(client, "/orders?size=25")) == 25
    assert len(listed(client, "/orders?size=25&page=2")) == 5
    assert len(listed(client, "/orders?size=25&page=99999999999")) == 5  # past the end: the last page
    assert len(listed(client, "/orders?size=100000")) == 30  # not a choice: the default (50)
    assert len(listed(client, "/orders?size=25&page=-3")) == 25


def test_each_dashboard_tile_lists_exactly_the_orders_it_counts(client, world, three):
    _deadlines(world, three)
    for who in ("admin@qoima.local", "a@seller-a.kz", "worker@qoima.local"):
        client.cookies.clear()
        signed_in(client, who)
        page = client.get("/").text
        tiles = re.findall(r'href="([^"]+)" data-kpi="(\w+)">\s*<span class="kpi-label">[^<]*</span>\s*'
                           r'<span class="kpi-value">([\d\s\u00a0\u202f,.]+)</span>', page)
        assert {k for _h, k, _v in tiles} == {"due_today", "at_risk", "late", "open"}, page[:2000]
        for href, kpi, value in tiles:
            count = int(re.sub(r"\D", "", value))
            assert len(listed(client, href)) == count, (who, kpi, href)
        values = {k: int(re.sub(r"\D", "", v)) for _h, k, v in tiles}
        assert values["late"] == 1 and values["open"] >= 2 and values["due_today"] >= 1


# --- bulk actions ----------------------------------------------------------------------------------------------

def _events(world) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.order_events)).scalar_one()


def test_bulk_hold_reports_each_order_and_a_second_submit_changes_nothing(client, world, three):
    signed_in(client, "manager@qoima.local")
    token = csrf(client)
    r = client.post("/orders/bulk", data={"csrf": token, "action": "cancel", "reason": "customer asked",
                                          "order": [three["a2"]]})
    assert 'class="row-ok" data-order="%d"' % three["a2"] in r.text
    form = {"csrf": token, "action": "hold", "reason": "address check", "order": [three["a1"], three["a2"], "999999"]}
    r = client.post("/orders/bulk", data=form)
    assert r.status_code == 200
    assert 'class="row-ok" data-order="%d"' % three["a1"] in r.text
    refused = re.search(r'class="row-refused" data-order="%d">(.*?)</tr>' % three["a2"], r.text, re.S).group(1)
    assert "«Отменён»" in refused and "«Приостановлен»" in refused  # the reason, in the page's language
    assert 'class="row-refused" data-order="999999"' in r.text
    assert status_of(world.engine, three["a1"]) == "on_hold" and status_of(world.engine, three["a2"]) == "cancelled"
    before = _events(world)
    again = client.post("/orders/bulk", data=form)
    assert 'class="row-ok" data-order="%d"' % three["a1"] in again.text and _events(world) == before
    assert status_of(world.engine, three["a1"]) == "on_hold"


def test_bulk_release_returns_each_order_where_it_was_with_translated_refusals(client, world, three):
    signed_in(client, "manager@qoima.local")
    token = csrf(client)
    client.post("/orders/bulk", data={"csrf": token, "action": "hold", "order": [three["a1"]]})
    r = client.post("/orders/bulk", data={"csrf": token, "action": "release", "order": [three["a1"], three["a2"]]})
    assert status_of(world.engine, three["a1"]) == "allocated"  # it was allocated: re-sourced, reserved again
    assert status_of(world.engine, three["a2"]) == "allocated"
    assert "заказ не на паузе" in r.text  # the Russian console's reason for a2
    with world.engine.connect() as conn:
        held = conn.execute(select(func.sum(t.reservations.c.quantity))
                            .where(t.reservations.c.order_id == three["a1"])).scalar_one()
    assert held == 1


def test_bulk_cancel_needs_a_reason_and_a_role_that_may_cancel(client, world, three):
    signed_in(client, "worker@qoima.local")
    assert "Cancel" not in re.search(r'<select name="action".*?</select>', client.get("/orders").text, re.S).group(0)
    r = client.post("/orders/bulk", data={"csrf": csrf(client), "action": "cancel", "reason": "x",
                                          "order": [three["a1"]]}, follow_redirects=False)
    assert r.status_code == 303 and status_of(world.engine, three["a1"]) == "allocated"
    assert "Ваша роль не может отменять заказы." in client.get(r.headers["location"]).text
    client.cookies.clear()
    signed_in(client, "a@seller-a.kz")
    bar = re.search(r'<select name="action".*?</select>', client.get("/orders").text, re.S).group(0)
    assert 'value="cancel"' in bar and 'value="hold"' in bar and 'value="release"' not in bar  # a seller holds or cancels
    r = client.post("/orders/bulk", data={"csrf": csrf(client), "action": "cancel", "reason": "  ",
                                          "order": [three["a1"]]}, follow_redirects=False)
    assert r.status_code == 303 and status_of(world.engine, three["a1"]) == "allocated"
    assert "Укажите причину отмены заказов." in client.get(r.headers["location"]).text
    r = client.post("/orders/bulk", data={"csrf": csrf(client), "action": "cancel", "reason": "out of stock",
                                          "order": [three["a1"], three["b1"]]})
    assert status_of(world.engine, three["a1"]) == "cancelled" and status_of(world.engine, three["b1"]) == "allocated"
    assert 'class="row-refused" data-order="%d"' % three["b1"] in r.text  # another seller's: not found


def test_bulk_needs_the_csrf_token(client, world, three):
    signed_in(client, "manager@qoima.local")
    r = client.post("/orders/bulk", data={"action": "hold", "order": [three["a1"]]}, follow_redirects=False)
    assert r.status_code == 403 and status_of(world.engine, three["a1"]) == "allocated"


def test_bulk_print_gives_a_pick_list_of_the_selected(client, world, three):
    signed_in(client, "worker@qoima.local")
    r = client.post("/orders/bulk", data={"csrf": csrf(client), "action": "print",
                                          "order": [three["a1"], three["a2"]]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/orders/print?")
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert f"#{three['a1']}" in page.text and f"#{three['a2']}" in page.text
    assert "SKU-1" in page.text and "SKU-2" in page.text and "A-01" in page.text
    assert "Aigerim" not in page.text and "1 500" not in page.text  # the floor: no contacts, no prices
    client.cookies.clear()
    signed_in(client, "b@seller-b.kz")
    page = client.get(f"/orders/print?order={three['a1']}&order={three['b1']}").text
    assert f"#{three['b1']}" in page and f"<h2>#{three['a1']} " not in page


def test_page_numbers_link_the_first_last_and_nearby_pages(client, world):
    for i in range(60):
        place(world, f"N-{i}")
    signed_in(client, "manager@qoima.local")
    page = client.get("/orders?size=25&page=2").text
    assert 'aria-current="page">2<' in page
    assert 'href="/orders?size=25">1<' in page and 'href="/orders?size=25&amp;page=3">3<' in page
