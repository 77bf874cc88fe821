"""One language per screen: an admin walks every page of the console in a real browser (Chromium) on
the demo data, in Russian, Kazakh and Ukrainian -- no English word may show -- and in English -- no
Cyrillic may show.

The pages are not listed here: they are every GET route of the web console (the routes made with
page_router(), PageRoute.surface == "web"), so a page added later is walked too. A path parameter is
filled with the id of the first row of its table (`order_id` -> orders), found generically.

What is checked: the text a user sees (innerText of the body, the document title, the options of the
selects) and the title / placeholder / aria-label / alt attributes. What is left out (the allow-list):
 - data as it was entered (product, seller, warehouse, city, customer names, SKUs, codes, e-mails,
   addresses...): every word of the user-data columns of the database, read generically;
 - numbers, units and words with digits (SKU-001, 64GB, 65W); words in capitals (codes and acronyms:
   ALA, SKU, CSV, API, EAN, CLV, RFM, LTV, ASN, HH:MM);
 - e-mail addresses and URLs;
 - ALLOWED below: proper names of products and protocols, and the names of statistical models and
   measures that are the same in every language of the console.
 - the names of the languages in the language switch (each in its own language, on purpose).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import String, Text, select

from test_browser import CHROMIUM, browser, pytestmark  # noqa: F401 - the fixture and marks

ADMIN = ("admin@qoima.local", "qoima-admin")
# proper names and the names of methods that stay as they are in every language
# (P(alive), BG/NBD, Gamma-Gamma, log-rank are the names of the models and the test the pages explain);
# my-shop: the sample seller code of a placeholder (codes are Latin letters by rule)
ALLOWED = {"qoima", "kaspi", "kz", "telegram", "whatsapp", "instagram", "p", "alive", "gamma", "nbd", "bg", "log",
           "rank", "my-shop", "enter",  # Enter: the key, as printed on it
           "x", "y"}  # x, y: the names of a location's coordinates (the floor settings explain them)
# the columns whose text is user data (shown as entered, in whatever language it was entered)
DATA_COLUMNS = {"name", "full_name", "city", "address", "category", "supplier", "reference", "external_id", "sku",
                "code", "email", "phone", "filename", "zone", "aisle", "position", "level", "note", "seller",
                "webhook_url", "token_prefix", "prefix", "timezone"}
SKIP_PATHS = ("/logout", "/static")
VISIBLE = """() => {
  let text = document.body.innerText;  // commands and file formats in <code> are not words of a language
  for (const el of document.querySelectorAll('code, kbd, pre, samp')) text = text.replace(el.innerText, ' ');
  const out = [document.title, text];
  for (const el of document.querySelectorAll('[title],[placeholder],[aria-label],[alt]')) {
    for (const a of ['title', 'placeholder', 'aria-label', 'alt']) { if (el.getAttribute(a)) out.push(el.getAttribute(a)); }
  }
  for (const o of document.querySelectorAll('option')) out.push(o.textContent);
  return out.join('\\n');
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_pages(app) -> list:
    """Every GET page of the console: (path template, route)."""
    try:
        from fastapi.routing import iter_route_contexts
        found = [(c.original_route, c.path) for c in iter_route_contexts(app.routes)]
    except ImportError:
        found = [(r, r.path) for r in app.routes]
    pages = {path: route for route, path in found if getattr(route, "surface", None) == "web"
             and "GET" in (getattr(route, "methods", None) or set()) and not path.startswith(SKIP_PATHS)}
    return sorted(pages.items())


def fill(path: str, engine) -> str:
    """The path with each {param} replaced by an id of the demo data (the first row of its table)."""
    from qoima.db import tables as t

    def value(m: re.Match) -> str:
        name = m.group(1).split(":")[0]
        base = name.removesuffix("_id")
        for table_name in (base + "s", base + "es", base[:-1] + "ies" if base.endswith("y") else base, base):
            table = t.metadata.tables.get(table_name)
            if table is not None:
                column = table.c.id if name.endswith("_id") or "code" not in table.c else table.c.code
                with engine.connect() as conn:
                    found = conn.execute(select(column).order_by(column).limit(1)).scalar()
                if found is not None:
                    return str(found)
        return "1"
    return re.sub(r"\{([^}]+)\}", value, path)


def data_words(engine) -> set[str]:
    """Every word of the user-data columns of every table (lower case)."""
    from qoima.db import tables as t
    words: set[str] = set()
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            cols = [c for c in table.c if c.name in DATA_COLUMNS and isinstance(c.type, (String, Text))]
            for col in cols:
                for (v,) in conn.execute(select(col).distinct().limit(20000)):
                    words.update(w.lower() for w in re.findall(r"[^\W\d_]+", v or ""))
    return words


def offending(text: str, lang: str, known: set[str], languages: set[str]) -> list[str]:
    text = re.sub(r"\S+@\S+|https?://\S*|\.[a-z]{2,4}\b", " ", text)  # e-mails, URLs, file extensions
    text = re.sub(r"\d[\d\s.,]*[A-Za-z]{0,2}\b", " ", text)  # numbers and their units (1.5k, 64GB, 12 h)
    for name in languages:
        text = text.replace(name, " ")
    bad = []
    if lang != "en":  # ru, kk, uk: no English word
        for m in re.finditer(r"[A-Za-z][A-Za-z0-9'’_-]*", text):
            word = m.group()
            parts = [p for p in re.split(r"[-_'’]", word) if p]
            if any(c.isdigit() for c in word) or word.isupper() or word.lower() in ALLOWED or all(
                    p.lower() in known or p.lower() in ALLOWED or p.isupper() for p in parts):
                continue
            bad.append(f"{word} «{text[max(0, m.start() - 30):m.end() + 30]}»".replace("\n", " "))
    else:
        for m in re.finditer(r"[\u0400-\u04FF][\u0400-\u04FF'’-]*", text):
            if m.group().lower() not in known:
                bad.append(f"{m.group()} «{text[max(0, m.start() - 30):m.end() + 30]}»".replace("\n", " "))
    return bad


def _failed_import(engine) -> set[str]:
    """Queue and run an orders import with bad rows; the words of its file (user data, shown as sent)."""
    from qoima.db import tables as t
    from qoima.entrypoints import importers
    from qoima.platform import jobs
    from qoima.platform.access import Principal
    from qoima.platform.imports import Upload
    with engine.connect() as conn:
        admin = conn.execute(select(t.users.c.id).where(t.users.c.email == ADMIN[0])).scalar()
    data = ("seller,channel,external_id,sku,quantity,unit_price,COLOUR\n"  # data in capitals: codes, no words
            "aruzhan-home,csv,BAD-1,NO-SUCH-SKU,1,100,RED\n"
            "aruzhan-home,csv,BAD-2,ARU-001,1,100,BLUE\n"
            "aruzhan-home,csv,BAD-2,ARU-001,1,100,BLUE\n").encode()
    importers.queue(engine, Principal(admin, ADMIN[0], "admin", None), "orders", Upload(data, "BAD-ROWS.csv", "text/csv"),
                    False)
    assert jobs.run_pending(engine) == 1
    return {w.lower() for w in re.findall(r"[^\W\d_]+", data.decode())}


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    import uvicorn

    from qoima import demo
    from qoima.analytics.domain.simulate import simulate_history
    from qoima.analytics.services.history import insert_history
    from qoima.analytics.services.refresh import refresh_due
    from qoima.db import tables as t
    from qoima.db.engine import make_engine
    from qoima.db.migrate import upgrade
    from qoima.entrypoints.api.app import create_app
    from qoima.platform.settings import Settings
    from qoima.platform.unit_of_work import utcnow

    tmp = tmp_path_factory.mktemp("one-language")
    engine = make_engine(f"sqlite:///{tmp / 'qoima.db'}")
    upgrade(engine)
    demo.seed(engine, orders=60)
    with engine.connect() as conn:
        seller_id = conn.execute(select(t.sellers.c.id).order_by(t.sellers.c.id).limit(1)).scalar()
    end = utcnow() - timedelta(days=1)
    sim = simulate_history(n_customers=120, start=end - timedelta(days=730), end=end, effect_days=3, seed=5)
    insert_history(engine, seller_id, sim.customers, sim.orders)
    refresh_due(engine)
    file_words = _failed_import(engine)  # an import job with bad rows and a warning: its page is walked too
    app = create_app(engine, Settings(data_dir=tmp / "data", secret_key="one-language-secret-key"))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app, engine, file_words
    srv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.mark.parametrize("lang", ["ru", "kk", "uk", "en"])
def test_every_page_speaks_one_language(demo_server, browser, lang):  # noqa: F811
    from qoima.entrypoints.web.i18n import LANGUAGE_NAMES
    base, app, engine, file_words = demo_server
    pages = web_pages(app)
    assert len(pages) >= 10, pages  # the console's pages were found
    known = data_words(engine) | file_words
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/login?lang={lang}")
    page.fill("input[name=email]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")
    problems, walked = {}, []
    for template, _route in pages:
        path = fill(template, engine)
        head = page.request.get(base + path)  # a file (an export) is a download, not a page to read
        if "text/html" not in (head.headers.get("content-type") or ""):
            assert head.status < 500, (path, head.status)
            continue
        response = page.goto(base + path)
        page.wait_for_load_state("load")
        assert response is not None and response.status < 500, (path, response and response.status)
        if "text/html" not in (response.headers.get("content-type") or ""):
            continue
        walked.append(path)
        bad = offending(page.evaluate(VISIBLE), lang, known, set(LANGUAGE_NAMES.values()))
        if bad:
            problems[path] = sorted(set(bad))[:25]
    assert len(walked) >= 10, walked
    assert not problems, "\n".join(f"{p}: {w}" for p, w in problems.items())
