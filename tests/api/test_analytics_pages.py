"""The customer analytics pages: /customers (KPIs, LTV curve, cohort heatmap, RFM
segments, CLV model), /customers/list (filters, pagination, exports) and /loyalty
(the fulfillment-to-loyalty report), on simulated history of seller A; seller
scoping, languages and empty states."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from markupsafe import escape

from qoima.analytics.domain.simulate import simulate_history
from qoima.entrypoints.web import i18n
from qoima.analytics.services import snapshots as analytics
from qoima.analytics.services.history import insert_history
from qoima.analytics.services.refresh import refresh_due
from qoima.analytics.services.snapshots import CustomerQuery
from qoima.platform.unit_of_work import utcnow

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login(client, email: str):
    token = CSRF.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf": token, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def use_lang(client, lang: str):
    assert client.get(f"/?lang={lang}", follow_redirects=False).status_code == 303


def seed(world, seller: str = "seller-a", n_customers: int = 300, seed: int = 5):
    end = utcnow() - timedelta(days=1)
    sim = simulate_history(n_customers=n_customers, start=end - timedelta(days=730), end=end, effect_days=3,
                           seed=seed)
    insert_history(world.engine, world.sellers[seller], sim.customers, sim.orders)
    refresh_due(world.engine)  # the worker's analytics pass: the pages read its snapshot
    return sim


@pytest.fixture
def history(world):
    return seed(world)


def svg_of(html: str, anchor: str) -> str:
    """The first inline SVG after `anchor` in the page."""
    start = html.index(anchor)
    return html[html.index("<svg", start): html.index("</svg>", start) + 6]


def test_pages_need_login(client):
    for path in ("/customers", "/customers/list?segment=Lost", "/loyalty"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


def test_customers_overview_shows_the_service_numbers(client, world, history):
    login(client, "a@seller-a.kz")
    principal = world.principals["seller_a"]
    ov = analytics.overview(world.engine, principal)
    s = ov["summary"]
    assert s["customers"] > 250
    r = client.get("/customers")
    assert r.status_code == 200
    html = r.text
    assert f'data-kpi="customers">{i18n.fmt_number(s["customers"], "ru")}<' in html
    assert f'{i18n.fmt_number(s["ltv"], "ru", 0)}&nbsp;₸' in html and i18n.fmt_money(s["aov"], "ru") in html
    assert i18n.fmt_percent(s["repeat_rate"], "ru") in html and i18n.fmt_percent(s["churn_rate"], "ru") in html
    assert f'нет заказов за последние {i18n.fmt_number(s["churn_horizon_days"], "ru", 0)} дн.' in html
    # cohort heatmap: one row per cohort, labelled with its size
    heat = svg_of(html, 'id="cohorts"')
    cohorts = ov["cohorts"]
    assert heat.count('class="row-label"') == len(cohorts["cohorts"]) > 12
    assert f'{cohorts["cohorts"][0]} · {cohorts["sizes"][0]}' in heat
    assert heat.count('class="cell"') == sum(v is not None for row in cohorts["values"] for v in row)
    assert ">100%<" in heat  # month 0 of every cohort
    # LTV curve and segments chart
    assert 'class="line"' in svg_of(html, 'id="ltv"')
    seg_chart = svg_of(html, 'id="rfm"')
    assert seg_chart.count('class="bar"') == 11 and "Чемпионы" in seg_chart
    # segments table: every segment, translated, linking to the filtered list
    for row in ov["segments"]:
        assert f'href="/customers/list?segment={row["segment"].replace(" ", "+")}"' in html, row["segment"]
    for ru in ("Чемпионы", "Лояльные", "Потенциально лояльные", "Новые покупатели", "Перспективные",
               "Требуют внимания", "Засыпающие", "Под угрозой", "Нельзя потерять", "Спящие", "Потерянные"):
        assert ru in html, ru
    # the CLV model box: BG/NBD parameters and the holdout check chart
    fit = analytics.clv_model(world.engine, principal)
    assert fit["enough_data"]
    clv_box = html[html.index('id="clv"'):]
    assert i18n.fmt_number(fit["model"]["r"], "ru", 3) in clv_box
    assert i18n.fmt_number(fit["model"]["alpha"], "ru", 2) in clv_box
    check = svg_of(clv_box, "Проверка на отложенном периоде")
    assert check.count('class="line"') == 2 and "Прогноз" in check and "Факт" in check
    assert check.count('class="point"') == 2 * len(fit["calibration"]["rows"])


def test_customers_overview_in_english(client, world, history):
    login(client, "a@seller-a.kz")
    use_lang(client, "en")
    html = client.get("/customers").text
    assert '<html lang="en">' in html
    for text in ("Repeat-purchase rate", "Churn rate", "LTV curve", "Cohort retention", "RFM segments",
                 "Champions", "Cannot lose them", "Predicted CLV", "Check on a holdout period"):
        assert text in html, text
    assert "Чемпионы" not in html and "Удержание" not in html


def test_customer_list_filters_sort_and_exports(client, world, history):
    login(client, "a@seller-a.kz")
    principal = world.principals["seller_a"]
    segments = analytics.overview(world.engine, principal)["segments"]
    seg = max(segments, key=lambda r: r["customers"])["segment"]
    rows, total = analytics.customers(world.engine, principal, CustomerQuery(segment=seg, limit=50))
    r = client.get("/customers/list", params={"segment": seg})
    assert r.status_code == 200
    html = r.text
    table = html[html.index('id="customers"'):]
    assert table.count("<tr>") - 1 == len(rows)  # minus the header row
    assert str(escape(rows[0]["name"])) in table and rows[0]["phone"] in table
    label = str(escape(i18n.get_translations("ru").gettext(seg)))
    assert f"Список покупателей · {label}" in html
    assert 'class="seg-tag"' not in table  # the segment column is left out when the list is one segment
    unfiltered = client.get("/customers/list").text
    assert unfiltered.count('class="seg-tag"') == 50
    assert f'<option value="{seg}" selected>' in html
    # the exports carry the same filters and give the whole filtered list
    hrefs = {label: href.replace("&amp;", "&")
             for href, label in re.findall(r'href="(/api/v1/customers\?[^"]+)" download>([^<]+)<', html)}
    csv_href = hrefs["Выгрузить CSV"]
    params = parse_qs(urlparse(csv_href).query)
    assert params["format"] == ["csv"] and params["segment"] == [seg] and params["sort"] == ["clv"]
    exported = client.get(csv_href)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert len(exported.text.strip().splitlines()) == total + 1
    xlsx = client.get(hrefs["Выгрузить XLSX"])
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    # search and sort
    name = rows[0]["name"]
    found = client.get("/customers/list", params={"q": name.split()[0], "sort": "recency_days"}).text
    assert str(escape(name)) in found and '<option value="recency_days" selected>' in found
    assert "Нет покупателей с такими фильтрами" in client.get("/customers/list?q=zzzz-nobody").text
    # pagination over the whole list; a bad segment or sort falls back to the defaults
    everything = client.get("/customers/list?segment=bogus&sort=bogus&page=x")
    assert everything.status_code == 200 and 'rel="next"' in everything.text
    _, all_total = analytics.customers(world.engine, principal, CustomerQuery(limit=1))
    page2 = client.get("/customers/list?page=2").text
    assert f"Показаны 51–{min(100, all_total)} из {all_total}" in page2


def test_win_back_list(client, world, history):
    """At risk + sorted by revenue: the list for a win-back campaign, linked from the overview."""
    login(client, "a@seller-a.kz")
    html = client.get("/customers").text
    assert 'href="/customers/list?segment=At+risk&amp;sort=monetary"' in html
    rows, total = analytics.customers(world.engine, world.principals["seller_a"],
                                      CustomerQuery(segment="At risk", sort="monetary", limit=50))
    page = client.get("/customers/list?segment=At+risk&sort=monetary").text
    if total:
        names = re.findall(r'<span class="strong cust-name">([^<]*)</span>', page)
        assert names == [str(escape(r["name"])) for r in rows]
        assert "/api/v1/customers?format=csv&amp;segment=At+risk&amp;sort=monetary" in page


def test_loyalty_report_page(client, world, history):
    login(client, "a@seller-a.kz")
    report = analytics.loyalty(world.engine, world.principals["seller_a"], lang="ru")
    r = client.get("/loyalty")
    assert r.status_code == 200
    html = r.text
    assert html.count('class="card comparison"') == 4
    for c in report["comparisons"]:
        card = html[html.index(f'id="{c["key"]}"'):]
        card = card[:card.index("</section>")]
        assert str(escape(c["verdict_text"])) in card, c["key"]
        assert f'data-verdict="{c["verdict"]["key"]}"' in card
        assert i18n.fmt_number(c["group_a"]["n_orders"], "ru") in card
        assert i18n.fmt_number(c["group_b"]["n_orders"], "ru") in card
        if c["group_a"]["curve"]["t"] and c["group_b"]["curve"]["t"]:
            chart = svg_of(card, "<svg")
            assert chart.count('class="line"') == 2 and chart.count('class="band"') >= 2
            path = re.search(r'class="line" d="M([^"]+)"', chart).group(1)
            assert 40 <= len(path.split(" L")) + 1 <= 80  # downsampled to about 60 points
        if c["verdict"]["key"] == "too_little_data":
            assert "Пока мало данных для вывода" in card
    assert "Вернулись за 30 дн." in html and "цензурирование" in html
    same_day = report["comparisons"][0]
    rate = same_day["group_a"]["repeat"][0]
    assert i18n.fmt_percent(rate["rate"], "ru") in html and i18n.fmt_percent(rate["lower"], "ru") in html
    use_lang(client, "en")
    en = client.get("/loyalty").text
    report_en = analytics.loyalty(world.engine, world.principals["seller_a"], lang="en")
    for c in report_en["comparisons"]:
        assert str(escape(c["verdict_text"])) in en
    assert "Shipped the same day" in en and "What is compared and how" in en


def test_other_seller_sees_none_of_seller_a(client, world, history):
    login(client, "b@seller-b.kz")
    names = history.customers["name"].to_list()[:50]
    pages = {path: client.get(path) for path in ("/customers", "/customers/list", "/loyalty",
                                                 "/customers/list?segment=Champions")}
    for path, r in pages.items():
        assert r.status_code == 200, path
        assert not any(str(escape(n)) in r.text for n in names), path
        assert "seller-a" not in r.text, path
    assert "Покупателей пока нет" in pages["/customers"].text
    assert "Покупателей пока нет" in pages["/customers/list"].text
    assert "Заказов пока нет" in pages["/loyalty"].text
    assert 'name="seller"' not in pages["/customers"].text
    for path in ("/customers?seller=seller-a", "/customers/list?seller=seller-a", "/loyalty?seller=seller-a"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert not any(str(escape(n)) in r.text for n in names), path
    assert client.get("/api/v1/customers?format=csv&seller=seller-a").status_code == 404


def test_staff_pick_a_seller(client, world, history):
    login(client, "manager@qoima.local")
    html = client.get("/customers").text  # the first seller by default: seller A
    n = analytics.overview(world.engine, world.principals["manager"], "seller-a")["summary"]["customers"]
    assert f'data-kpi="customers">{i18n.fmt_number(n, "ru")}<' in html
    assert '<option value="seller-a" selected>' in html and '<option value="seller-b">' in html
    assert 'href="/customers/list?seller=seller-a&amp;segment=Champions"' in html
    listing = client.get("/customers/list?seller=seller-a&segment=Lost").text
    assert "/api/v1/customers?seller=seller-a&amp;format=csv&amp;segment=Lost" in listing
    for path in ("/customers?seller=seller-b", "/customers/list?seller=seller-b", "/loyalty?seller=seller-b"):
        r = client.get(path)
        assert r.status_code == 200 and '<option value="seller-b" selected>' in r.text, path
        assert "пока нет" in r.text, path
    assert client.get("/loyalty?seller=seller-a").text.count('class="card comparison"') == 4
    assert client.get("/customers?seller=nope").status_code == 422


def test_empty_seller_shows_empty_states(client, world):
    login(client, "a@seller-a.kz")
    use_lang(client, "en")
    for path, text in (("/customers", "No customers yet"), ("/customers/list", "No customers yet"),
                       ("/loyalty", "No orders yet")):
        r = client.get(path)
        assert r.status_code == 200 and text in r.text, path
        assert "<svg" not in r.text and 'href="/api/v1/customers' not in r.text, path


def test_thin_data_is_explained(client, world):
    seed(world, n_customers=12, seed=3)
    login(client, "a@seller-a.kz")
    use_lang(client, "en")
    overview = client.get("/customers")
    assert overview.status_code == 200
    assert "Not enough customers to fit the model yet" in overview.text
    loyalty = client.get("/loyalty")
    assert loyalty.status_code == 200
    assert loyalty.text.count('data-verdict="too_little_data"') == 4
    assert "Too little data for a conclusion yet" in loyalty.text
    assert client.get("/customers/list").status_code == 200
