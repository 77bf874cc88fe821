"""What every web page shares: the Jinja environment of each language, the
request context (who is signed in, which language, the CSRF token), flash
messages, access checks and HTML error pages.

A page module makes its router with `page_router()` and takes one of the
dependencies `WebDep` (anyone), `UserDep` (signed in), `StaffDep`, `AdminDep`;
POST handlers add `CsrfDep`. Every page of `page_router()` is first checked against
the role matrix (platform/roles.py; a page with no rule there is refused). Errors
raised in a page (a service's DomainError, PageError, a bad query parameter) become
an HTML error page; a missing login becomes a redirect to /login?next=...
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from qoima.platform import roles
from qoima.platform.errors import SCHEMA_INVALID, DomainError, schema_rule
from qoima.platform.access import Principal
from qoima.platform.unit_of_work import UnitOfWork
from qoima.platform.unit_of_work import run as run_use_case
from qoima.entrypoints.web import i18n, lookups

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


class Redirect(Exception):
    def __init__(self, url: str, status: int = 303):
        self.url, self.status = url, status


class LoginRequired(Exception):
    pass


class PageError(Exception):
    """An error shown as an HTML page; `message` is already translated (or empty)."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message)
        self.status, self.message = status, message


# --- templates -------------------------------------------------------------------------------------------------

@cache
def environment(lang: str) -> Environment:
    """One Jinja environment per language (thread-safe: nothing changes per request)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "svg"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    tr = i18n.get_translations(lang)
    env.install_gettext_translations(tr, newstyle=True)

    def label(table: dict):
        return lambda value: tr.gettext(table[value]) if value in table else (value or "")
    env.filters.update(
        dt=lambda v, fmt="short": i18n.fmt_datetime(v, lang, fmt), date=lambda v, fmt="medium": i18n.fmt_date(v, lang, fmt),
        num=lambda v, digits=None: i18n.fmt_number(v, lang, digits), money=lambda v, cur="KZT": i18n.fmt_money(v, lang, cur),
        pct=lambda v, digits=1: i18n.fmt_percent(v, lang, digits), status_label=label(i18n.STATUS_LABELS),
        role_label=label(i18n.ROLE_LABELS), delivery_label=label(i18n.DELIVERY_LABELS),
        channel_label=label(i18n.CHANNEL_LABELS), notify_label=label(i18n.NOTIFY_LABELS),
        problem_text=lambda e: i18n.localize_problem(e, lang), warning_text=lambda w: i18n.localize_warning(w, lang),
        count_label=label(i18n.IMPORT_COUNT_LABELS), segment_label=label(i18n.SEGMENT_LABELS), actor_label=label(i18n.ACTOR_LABELS), reason=lambda v: i18n.localize_reason(v, lang), ledger=lambda v: i18n.localize_ledger(v, lang), row_error=lambda row: i18n.localize_row(row, lang))
    env.globals.update(lang=lang, languages=i18n.available_languages(), language_names=i18n.LANGUAGE_NAMES)
    return env


# --- schema errors (Pydantic) in the page's language ---------------------------------------------------------

SCHEMA_FIELD_LABELS = {"email": i18n.N_("E-mail"), "password": i18n.N_("Password"), "name": i18n.N_("Name"),
                       "code": i18n.N_("Code"), "full_name": i18n.N_("Full name"), "role": i18n.N_("Role"),
                       "seller": i18n.N_("Seller"), "language": i18n.N_("Language"), "sku": i18n.N_("SKU"),
                       "warehouse": i18n.N_("Warehouse"), "quantity": i18n.N_("Quantity"), "note": i18n.N_("Note")}
def schema_error(web: Web, exc, labels: dict | None = None) -> str:
    """The first error of a pydantic ValidationError as "<field label>: <problem>" in the page's language:
    a domain rule inside the schema (platform/schemas.RuleValueError) is its own translated error; a
    Pydantic check is one of SCHEMA_PROBLEMS; the English text of Pydantic is never shown."""
    first = exc.errors()[0]
    loc = [str(x) for x in first.get("loc", ()) if not isinstance(x, int)]
    name = loc[-1] if loc else ""
    table = {**SCHEMA_FIELD_LABELS, **(labels or {})}
    label = web._(table[name]) if name in table else name
    problem = schema_problem(web, first)
    return web._("%(field)s: %(problem)s", field=label, problem=problem) if label else problem


def schema_problem(web: Web, error: dict) -> str:
    """One error of pydantic's exc.errors(), without its field, in the page's language."""
    rule = schema_rule(error)
    return web.error(rule) if rule is not None else web._(SCHEMA_INVALID)


# --- the request context ---------------------------------------------------------------------------------------

@dataclass
class Web:
    request: Request
    lang: str
    principal: Principal | None = None
    user_name: str = ""

    @property
    def session(self) -> dict:
        return self.request.session if "session" in self.request.scope else {}

    @property
    def engine(self):
        return self.request.app.state.engine

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def run(self, use_case):
        """Run use_case(uow) and commit, re-running it on a deadlock or lock timeout (unit_of_work.run)."""
        return run_use_case(self.engine, use_case)

    def _(self, message: str, **params) -> str:
        text = i18n.get_translations(self.lang).gettext(message)
        return text % params if params else text

    def error(self, exc) -> str:
        """A DomainError's message in the page's language."""
        return i18n.localize_error(exc, self.lang)

    def invalid(self, exc, labels: dict | None = None) -> str:
        """The first error of a Pydantic validation, translated and naming its field ("E-mail: is not a
        valid e-mail address"); `labels` maps field names to msgids (FIELD_LABELS of the page)."""
        return schema_error(self, exc, labels)

    def ngettext(self, singular: str, plural: str, n: int, **params) -> str:
        text = i18n.get_translations(self.lang).ngettext(singular, plural, n)
        return text % {"num": n, **params}

    @property
    def csrf(self) -> str:
        return self.session.get("csrf", "")

    def flash(self, kind: str, message: str) -> None:
        """kind: success | error | info; shown once on the next rendered page."""
        if "session" in self.request.scope:
            self.request.session["flash"] = [*self.request.session.get("flash", []), [kind, message]][-5:]

    def url_with(self, **params) -> str:
        """The current URL with some query parameters replaced (None or '' removes one)."""
        query = dict(self.request.query_params)
        for k, v in params.items():
            if v is None or v == "" or v is False:
                query.pop(k, None)
            else:
                query[k] = str(v)
        return self.request.url.path + ("?" + urlencode(query) if query else "")

    def lang_url(self, code: str) -> str:
        """The language switch link: this page again, or "/" when this page cannot be fetched with GET."""
        if self.request.method == "GET":
            return self.url_with(lang=code)
        scope = {**self.request.scope, "method": "GET"}
        if any(route.matches(scope)[0] == Match.FULL for route in self.request.app.router.routes):
            return f"{self.request.url.path}?{urlencode({'lang': code})}"
        return f"/?{urlencode({'lang': code})}"

    def may_open(self, path: str, method: str = "GET") -> bool:
        """May the signed-in user open this page (the role matrix, platform/roles.py)? For the navigation."""
        return self.principal is not None and roles.allows(self.principal.role, method, path)

    @property
    def shop_name(self) -> str:
        """A seller user's shop (its seller's name), shown in the header instead of the role; '' for staff."""
        p = self.principal
        if p is None or p.is_staff or p.seller_id is None:
            return ""
        if not hasattr(self, "_shop_name"):
            with self.uow() as uow:
                self._shop_name = lookups.seller_name(uow, p.seller_id)
        return self._shop_name

    def sees(self, what: str) -> bool:
        """'contacts' or 'money': may the signed-in user see customer contacts / money on a page?"""
        ability = {"contacts": roles.SEE_CONTACTS, "money": roles.SEE_MONEY}[what]
        return self.principal is not None and roles.may(self.principal.role, ability)

    def render(self, template: str, status: int = 200, **ctx) -> HTMLResponse:
        flashes = self.request.session.pop("flash", []) if "session" in self.request.scope else []
        html = environment(self.lang).get_template(template).render(
            web=self, user=self.principal, user_name=self.user_name, csrf=self.csrf, flashes=flashes,
            path=self.request.url.path, url_with=self.url_with, lang_url=self.lang_url, **ctx)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)


def safe_next(url: str | None) -> str:
    """Only local paths: never redirect to another site after login."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def web_context(request: Request) -> Web:
    session = request.session
    switch = request.query_params.get("lang")
    if switch is not None:
        lang = i18n.normalize(switch)
        if lang:
            session["lang"] = lang
        if request.method == "GET":
            query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"])
            raise Redirect(request.url.path + ("?" + query if query else ""))
    if not session.get("csrf"):
        session["csrf"] = secrets.token_urlsafe(32)
    principal, language, name = None, None, ""
    user_id = session.get("user_id")
    if user_id:
        with UnitOfWork(request.app.state.engine) as uow:
            found = lookups.signed_in_user(uow, int(user_id), session.get("sv"))
        if found is None:
            session.pop("user_id", None)
            session.pop("sv", None)
        else:
            principal, language, name = found
    web = Web(request=request, principal=principal, user_name=name,
              lang=i18n.choose_language(session.get("lang"), language, request.headers.get("accept-language")))
    request.state.web = web
    return web


def signed_in(web: Annotated[Web, Depends(web_context)]) -> Web:
    if web.principal is None:
        raise LoginRequired()
    return web


def staff_only(web: Annotated[Web, Depends(signed_in)]) -> Web:
    if not web.principal.is_staff:
        raise PageError(403)
    return web


def admin_only(web: Annotated[Web, Depends(signed_in)]) -> Web:
    if web.principal.role != "admin":
        raise PageError(403)
    return web


def authorize_page(request: Request, web: Annotated[Web, Depends(web_context)]) -> None:
    """The role matrix (platform/roles.py) for every page made with `page_router()`: a page with no
    rule is refused to everyone (deny by default), one the role may not open is the 403 page."""
    method, path = request.method, getattr(request.scope.get("route"), "path", None)
    if roles.is_public(method, path):
        return
    if roles.rule(method, path) is None:
        raise PageError(403)
    if web.principal is None:
        raise LoginRequired()
    if not roles.allows(web.principal.role, method, path):
        raise PageError(403)


def csrf_protect(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    expected = request.session.get("csrf") if "session" in request.scope else None
    if not expected or not csrf or not hmac.compare_digest(str(expected), str(csrf)):
        raise PageError(403, "csrf")


WebDep = Annotated[Web, Depends(web_context)]
UserDep = Annotated[Web, Depends(signed_in)]
StaffDep = Annotated[Web, Depends(staff_only)]
AdminDep = Annotated[Web, Depends(admin_only)]
CsrfDep = Annotated[None, Depends(csrf_protect)]


# --- errors as pages -------------------------------------------------------------------------------------------

ERROR_TITLES = {400: i18n.N_("Bad request"), 403: i18n.N_("Access denied"), 404: i18n.N_("Page not found"),
                409: i18n.N_("Conflict"), 422: i18n.N_("Invalid input"), 500: i18n.N_("Something went wrong")}
ERROR_TEXTS = {403: i18n.N_("You do not have access to this page."),
               404: i18n.N_("There is no such page, or it is not visible to you."),
               400: i18n.N_("The address has an invalid parameter.")}


def web_lang(request: Request) -> str:
    web = getattr(request.state, "web", None)
    if web is not None:
        return web.lang
    session = request.session if "session" in request.scope else {}
    return i18n.choose_language(session.get("lang"), None, request.headers.get("accept-language"))


def error_page(request: Request, status: int, detail: str = "") -> Response:
    web = getattr(request.state, "web", None)
    if web is None:
        session = request.session if "session" in request.scope else {}
        web = Web(request=request, lang=i18n.choose_language(session.get("lang"), None,
                                                             request.headers.get("accept-language")))
    if detail == "csrf":
        detail = web._("The form has expired or was not sent from this site. Reload the page and try again.")
    title = web._(ERROR_TITLES.get(status, ERROR_TITLES[500]))
    text = detail or (web._(ERROR_TEXTS[status]) if status in ERROR_TEXTS else "")
    return web.render("error.html", status=status, status_code=status, title=title, text=text)


class PageRoute(APIRoute):
    """A route whose errors are HTML pages (the API keeps its problem+json)."""

    surface = "web"  # the API's role check (api/authorize.py) leaves these to `authorize_page`

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Redirect as r:
                return RedirectResponse(r.url, status_code=r.status)
            except LoginRequired:
                target = request.url.path + (("?" + request.url.query) if request.url.query else "")
                return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
            except PageError as exc:
                return error_page(request, exc.status, exc.message)
            except DomainError as exc:
                detail = i18n.localize_error(exc, web_lang(request)) if exc.status not in (403, 404) else ""
                return error_page(request, exc.status, detail)
            except RequestValidationError:
                return error_page(request, 400)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, "")
        return page_handler


def page_router() -> APIRouter:
    return APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(authorize_page)])


def int_param(value: str | None, default: int | None = None, minimum: int | None = None) -> int | None:
    """Lenient query-string integers: '' or garbage gives the default; at most 2^31-1 (a page number
    times the page size must stay a 64-bit offset)."""
    try:
        n = min(int(str(value).strip()), 2**31 - 1)
    except (TypeError, ValueError):
        return default
    return max(n, minimum) if minimum is not None else n
