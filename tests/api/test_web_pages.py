"""The server-rendered web shell: login, CSRF, every page, seller scoping,
language switch, order transitions and forms, and the message catalogs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from conftest import order_payload
from sqlalchemy import select

from qoima.db import tables as t
from qoima.entrypoints.web import i18n
from qoima.platform.access import SYSTEM
from qoima.orders.services.intake import submit_order
from qoima.orders.schemas import OrderIn

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no csrf field on the page"
    return m.group(1)


def login(client, email: str, password: str = PASSWORD, next: str = "/"):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf": token, "next": next},
                       follow_redirects=False)


def status_of(engine, order_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(t.orders.c.status).where(t.orders.c.id == order_id)).scalar_one()


@pytest.fixture
def orders(world) -> dict:
    """Two orders of seller A, one of seller B."""
    ids = {}
    for key, seller, ext, lines in (("a1", "seller-a", "A-100", (("SKU-1", 1),)),
                                    ("a2", "seller-a", "A-200", (("SKU-2", 2),)),
                                    ("b1", "seller-b", "B-100", (("SKU-1", 1),))):
        order, _ = submit_order(world.engine, SYSTEM, OrderIn(**order_payload(ext, lines=lines, seller=seller)))
        ids[key] = order["id"]
    return ids


def test_pages_need_login(client):
    r = client.get("/orders?status=allocated", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Forders%3Fstatus%3Dallocated"
    assert client.get("/login").status_code == 200


def test_login_wrong_password_refused(client):
    r = login(client, "admin@qoima.local", "wrong-password")
    assert r.status_code == 401
    assert "Неверный e-mail или пароль" in r.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_logout(client):
    r = login(client, "admin@qoima.local", next="/stock")
    assert r.status_code == 303 and r.headers["location"] == "/stock"
    page = client.get("/")
    assert page.status_code == 200 and "admin@qoima.local" in page.text
    r = client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_never_redirects_off_site(client):
    r = login(client, "admin@qoima.local", next="//evil.example/x")
    assert r.headers["location"] == "/"


def test_csrf_refused_without_token(client, world, orders):
    # the login form itself is protected
    assert client.post("/login", data={"email": "admin@qoima.local", "password": PASSWORD}).status_code == 403
    login(client, "admin@qoima.local")
    oid = orders["a1"]
    for data in ({"to_status": "picking"}, {"to_status": "picking", "csrf": "forged"}):
        r = client.post(f"/orders/{oid}/transition", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert "text/html" in r.headers["content-type"]
        assert 'href="/?lang=en"' in r.text  # no GET page at this address: the switch goes home
    assert status_of(world.engine, oid) == "allocated"
    assert client.post("/admin/sellers", data={"code": "x", "name": "X"}).status_code == 403
    assert client.post("/logout", follow_redirects=False).status_code == 403


def test_every_page_renders_for_admin(client, orders):
    login(client, "admin@qoima.local")
    for path in ("/", "/orders", f"/orders/{orders['a1']}", f"/orders/{orders['b1']}", "/stock", "/products",
                 "/receipts", "/admin/sellers", "/admin/users",
                 "/orders?status=allocated&seller=seller-a&channel=api&warehouse=ALA&q=Aig&late=1&page=1",
                 "/orders?page=abc&status=bogus", "/stock?seller=seller-a&warehouse=ALA&sku=SKU-1&page=2",
                 "/products?q=Item&seller=seller-b", "/receipts?seller=seller-a&warehouse=AST"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "text/html" in r.headers["content-type"]
        assert "/customers" in r.text and "/loyalty" in r.text  # the lead's pages are in the nav already
    dash = client.get("/").text
    assert "<svg" in dash and 'class="bar"' in dash
    orders_page = client.get("/orders").text
    assert "A-100" in orders_page and "B-100" in orders_page
    assert 'name="seller"' in orders_page
    assert client.get("/orders/999999").status_code == 404
    assert client.get("/orders/abc").status_code == 400


def test_static_files_served(client):
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200


def test_seller_sees_only_own_data(client, world, orders):
    assert login(client, "a@seller-a.kz").status_code == 303
    page = client.get("/orders").text
    assert "A-100" in page and "A-200" in page and "B-100" not in page
    assert 'name="seller"' not in page and "seller-b" not in page  # no other sellers in the filters
    forced = client.get("/orders?seller=seller-b").text
    assert "B-100" not in forced and "A-100" in forced
    assert client.get(f"/orders/{orders['a1']}").status_code == 200
    r = client.get(f"/orders/{orders['b1']}")
    assert r.status_code == 404 and "B-100" not in r.text
    for path in ("/admin/sellers", "/admin/users"):
        assert client.get(path).status_code == 403
    for path in ("/", "/stock", "/products", "/receipts"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "seller-b" not in r.text and "Seller-B" not in r.text, path
    for path in ("/stock?seller=seller-b", "/products?seller=seller-b", "/receipts?seller=seller-b"):
        r = client.get(path)  # the parameter is ignored: still only seller A's rows
        assert r.status_code == 200 and "Seller-B" not in r.text and "<td" in r.text, path
    assert 'href="/admin/users"' not in client.get("/").text
    # a seller may not book a receipt
    token = csrf_of(client.get("/receipts").text)
    r = client.post("/receipts", data={"csrf": token, "place": "ALA|A-01", "sku": ["SKU-1"],
                                       "expected": ["1"], "received": ["1"]})
    assert r.status_code == 403


def test_language_switch(client, world):
    login(client, "admin@qoima.local")
    ru = client.get("/orders")
    assert '<html lang="ru">' in ru.text and "Заказы" in ru.text and "Все продавцы" in ru.text
    r = client.get("/orders?lang=en&status=allocated", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/orders?status=allocated"
    en = client.get("/orders")
    assert '<html lang="en">' in en.text and "All sellers" in en.text and "Все продавцы" not in en.text
    assert "Sign out" in en.text
    client.get("/?lang=ru")
    assert "Выйти" in client.get("/").text


def test_language_from_browser_and_user(client, world):
    assert "Sign in to Qoima" in client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9,ru;q=0.5"}).text
    assert "Вход в Qoima" in client.get("/login", headers={"Accept-Language": "de-DE,ru;q=0.7,en;q=0.3"}).text
    assert "Вход в Qoima" in client.get("/login").text  # default ru
    from qoima.platform import auth
    from qoima.platform.unit_of_work import UnitOfWork
    with UnitOfWork(world.engine) as uow:
        auth.create_user(uow, email="en@qoima.local", password=PASSWORD, role="manager", language="en")
        uow.commit()
    login(client, "en@qoima.local")
    assert "Sign out" in client.get("/", headers={"Accept-Language": "ru"}).text  # the user's language wins


def test_transition_via_order_page(client, world, orders):
    login(client, "admin@qoima.local")
    oid = orders["a1"]
    page = client.get(f"/orders/{oid}").text
    assert 'value="picking"' in page and 'value="delivered"' not in page
    assert "получен через канал «API»" in page  # the timeline, in the page's language
    r = client.post(f"/orders/{oid}/transition", data={"csrf": csrf_of(page), "to_status": "picking",
                                                       "reason": "wave 7"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/orders/{oid}"
    assert status_of(world.engine, oid) == "picking"
    after = client.get(f"/orders/{oid}").text
    assert "flash-success" in after and "wave 7" in after and "admin@qoima.local" in after
    assert "Отправления" in after and "ALA · " in after  # the shipment moved with the order
    # a move the state machine refuses: the domain message is shown, nothing changes
    r = client.post(f"/orders/{oid}/transition", data={"csrf": csrf_of(after), "to_status": "delivered"})
    assert r.status_code == 200
    # in the page's language, statuses by their labels (not "cannot move order from 'picking'...")
    assert "flash-error" in r.text and "нельзя перевести заказ из «Сборка» в «Доставлен»" in r.text
    assert "cannot move" not in r.text
    assert status_of(world.engine, oid) == "picking"


def test_hold_offers_only_the_way_back(client, world, orders):
    login(client, "admin@qoima.local")
    oid = orders["a1"]
    token = csrf_of(client.get(f"/orders/{oid}").text)
    client.post(f"/orders/{oid}/transition", data={"csrf": token, "to_status": "on_hold", "reason": "address?"})
    page = client.get(f"/orders/{oid}").text
    buttons = re.findall(r'name="to_status" value="([a-z_]+)"', page)
    # changed on purpose (issue 7, item 4): the way back to `allocated` is re-sourcing, not a status button
    assert buttons == ["cancelled"]
    assert f'formaction="/orders/{oid}/resource"' in page


def test_backordered_order_page_offers_re_source_not_allocated(client, world):
    """Issue 7, item 4: the page offers exactly what the service accepts; a backordered order has
    no "Allocated" button, staff get "Re-source", which stores and shows the new reason."""
    order, _ = submit_order(world.engine, SYSTEM, OrderIn(**order_payload("BO-WEB", lines=(("SKU-1", 12),))))
    oid = order["id"]
    assert order["status"] == "backordered"
    login(client, "admin@qoima.local")
    page = client.get(f"/orders/{oid}?lang=en").text
    assert re.findall(r'name="to_status" value="([a-z_]+)"', page) == ["on_hold", "cancelled", "exception"]
    assert f'formaction="/orders/{oid}/resource"' in page and ">Re-source</button>" in page
    # forged form posts are refused by the service with the domain message, nothing changes
    r = client.post(f"/orders/{oid}/transition", data={"csrf": csrf_of(page), "to_status": "allocated"})
    assert "flash-error" in r.text and "set by sourcing only" in r.text
    assert status_of(world.engine, oid) == "backordered"
    r = client.post(f"/orders/{oid}/resource", data={"csrf": csrf_of(page), "reason": ""}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/orders/{oid}"
    after = client.get(f"/orders/{oid}").text
    assert "flash-success" in after and "re-sourced: no warehouse set has all items" in after
    assert status_of(world.engine, oid) == "backordered"  # still 2 short: sourcing says so
    # 2 more arrive while it is on hold; re-sourcing then allocates it
    client.post(f"/orders/{oid}/transition", data={"csrf": csrf_of(after), "to_status": "on_hold"})
    from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
    from qoima.stock.services import inbound
    from qoima.platform.unit_of_work import UnitOfWork
    with UnitOfWork(world.engine) as uow:
        inbound.receive(uow, SYSTEM, ReceiptIn(seller="seller-a", warehouse="ALA", location="A-02",
                                              lines=[ReceiptLineIn(sku="SKU-1", expected=2, received=2)]))
        uow.commit()
    held = client.get(f"/orders/{oid}").text
    assert re.findall(r'name="to_status" value="([a-z_]+)"', held) == ["cancelled"]
    client.post(f"/orders/{oid}/resource", data={"csrf": csrf_of(held)})
    assert status_of(world.engine, oid) == "allocated"
    done = client.get(f"/orders/{oid}").text
    assert "1 parcel from ALA" in done and 'value="picking"' in done
    # a seller sees no re-source button and the route refuses them
    login(client, "a@seller-a.kz")
    page = client.get(f"/orders/{oid}").text
    assert "/resource" not in page
    r = client.post(f"/orders/{oid}/resource", data={"csrf": csrf_of(page)})
    # refused by the role matrix (platform/roles.py): the 403 page, nothing changed
    assert r.status_code == 403 and "Access denied" in r.text and status_of(world.engine, oid) == "allocated"


def test_seller_may_only_hold_or_cancel(client, world, orders):
    login(client, "a@seller-a.kz")
    oid = orders["a1"]
    page = client.get(f"/orders/{oid}").text
    assert re.findall(r'name="to_status" value="([a-z_]+)"', page) == ["on_hold", "cancelled"]
    r = client.post(f"/orders/{oid}/transition", data={"csrf": csrf_of(page), "to_status": "picking"})
    assert "flash-error" in r.text
    assert status_of(world.engine, oid) == "allocated"
    r = client.post(f"/orders/{orders['b1']}/transition", data={"csrf": csrf_of(page), "to_status": "cancelled"})
    assert r.status_code == 404
    assert status_of(world.engine, orders["b1"]) == "allocated"


def test_book_receipt_form(client, world):
    login(client, "admin@qoima.local")
    token = csrf_of(client.get("/receipts").text)
    r = client.post("/receipts", data={"csrf": token, "seller": "seller-a", "place": "ALA|RCV",
                                       "supplier": "Acme", "reference": "ASN-77", "sku": ["SKU-1", "SKU-2", ""],
                                       "expected": ["10", "5", ""], "received": ["8", "5", ""]},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/receipts").text
    assert "ASN-77" in page and "SKU-1 -2" in page and "flash-success" in page
    # an unknown SKU: the form comes back with the message and the values kept
    bad = client.post("/receipts", data={"csrf": token, "seller": "seller-a", "place": "ALA|RCV",
                                         "sku": ["NOPE"], "expected": ["1"], "received": ["1"]})
    assert bad.status_code == 422 and "NOPE" in bad.text and "flash-error" in bad.text
    assert 'href="/receipts?lang=en"' in bad.text
    assert client.post("/receipts", data={"csrf": token, "seller": "seller-a", "place": "ALA|RCV",
                                          "sku": ["SKU-1"], "expected": ["x"], "received": ["1"]}).status_code == 422
    assert "Choose the warehouse" in client.post("/receipts?lang=en", data={
        "csrf": token, "seller": "seller-a", "place": "", "sku": ["SKU-1"], "expected": ["1"], "received": ["1"]}).text


def test_admin_creates_seller_and_user(client, world):
    login(client, "admin@qoima.local")
    token = csrf_of(client.get("/admin/sellers").text)
    r = client.post("/admin/sellers", data={"csrf": token, "code": "seller-c", "name": "Seller C"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "seller-c" in client.get("/admin/sellers").text
    dup = client.post("/admin/sellers", data={"csrf": token, "code": "seller-c", "name": "Again"})
    assert dup.status_code == 422 and "продавец «seller-c» уже есть" in dup.text and "already exists" not in dup.text
    r = client.post("/admin/users", data={"csrf": token, "email": "c@seller-c.kz", "password": "long-password",
                                          "role": "seller", "seller": "seller-c", "language": "en"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "c@seller-c.kz" in client.get("/admin/users").text
    short = client.post("/admin/users", data={"csrf": token, "email": "d@qoima.local", "password": "short",
                                              "role": "worker"})
    assert short.status_code == 422 and "8 символов" in short.text  # the schema rule, in the page's language
    client.post("/logout", data={"csrf": token})
    assert login(client, "c@seller-c.kz", "long-password").status_code == 303
    assert "Sign out" in client.get("/orders").text  # created with language en


def test_manager_is_not_admin(client, world):
    login(client, "manager@qoima.local")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/receipts").status_code == 200


# --- localization ----------------------------------------------------------------------------------------------

def _source_messages() -> set:
    root = i18n.Path(i18n.__file__).parent
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _fn, _line, msg, _c, _ctx in extract_from_dir(str(root), method_map, options,
                                                       keywords={"_": None, "N_": None, "ngettext": (1, 2)}):
        found.add(msg if isinstance(msg, str) else tuple(msg))
    return found


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_catalog_covers_every_ui_string(lang):
    catalog = i18n.read_catalog(lang)
    ids = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}
    missing = _source_messages() - ids
    assert not missing, f"not in {lang} catalog: {sorted(map(str, missing))}"
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{lang}: no translation for {message.id!r}"
        assert not list(message.check(catalog)), f"{lang}: {message.id!r}"


def test_translations_load_without_compiling():
    assert i18n.get_translations("ru").gettext("Orders") == "Заказы"
    assert i18n.get_translations("en").gettext("Orders") == "Orders"
    ru = i18n.get_translations("ru")
    assert [ru.ngettext("%(n)s order", "%(n)s orders", n) % {"n": n} for n in (1, 3, 5)] == \
        ["1 заказ", "3 заказа", "5 заказов"]


def test_formatting_in_warehouse_time_zone():
    moment = datetime(2024, 5, 3, 10, 5)  # stored naive UTC
    local = moment.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Almaty"))  # UTC+5 (UTC+6 with old tzdata)
    assert i18n.fmt_datetime(moment, "ru") == f"03.05.2024, {local:%H:%M}"
    en = i18n.fmt_datetime(moment, "en")
    assert en.startswith(f"5/3/24, {local.hour - 12}:05") and en.endswith("PM")
    assert i18n.fmt_money("1500.5", "ru") == "1\u00a0500,50\u00a0₸"
    assert i18n.fmt_number(1234.5, "en", 1) == "1,234.5"
    assert i18n.choose_language(None, None, "en-GB,en;q=0.8") == "en"
    assert i18n.choose_language("xx", "en", "ru") == "en"
    assert i18n.choose_language(None, None, None) == "ru"
