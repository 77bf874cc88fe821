"""Signing in and out. The session keeps user_id, the user's session version and a CSRF token; they
are renewed at login (no session fixation); the chosen language survives. Sign-ins are throttled per
account and per client address (platform/login_throttle.py); logging out ends every session of the
user (the version in the users row is bumped, so a copied cookie stops working everywhere)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Form

from qoima.platform import auth, login_throttle
from qoima.entrypoints.web import i18n
from qoima.entrypoints.web.common import CsrfDep, WebDep, page_router, safe_next

router = page_router()


def client_address(request) -> str | None:
    return request.client.host if request.client else None


@router.get("/login")
def login_form(web: WebDep, next: str = "/"):
    if web.principal is not None:
        return web.redirect(safe_next(next))
    return web.render("login.html", next=safe_next(next), email="", error=None)


@router.post("/login")
def login(web: WebDep, _csrf: CsrfDep, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/"):
    throttle = login_throttle.Throttle.from_settings(web.request.app.state.settings)
    try:
        principal = login_throttle.authenticate(web.engine, throttle, email, password, client_address(web.request))
    except login_throttle.LoginThrottled as exc:
        resp = web.render("login.html", status=429, next=safe_next(next), email=email,
                          error=web._("Too many failed sign-in attempts. Try again %(when)s.",
                                      when=i18n.fmt_wait(exc.retry_after, web.lang)))
        resp.headers.update(exc.headers)
        return resp
    if principal is None:
        return web.render("login.html", status=401, next=safe_next(next), email=email,
                          error=web._("Wrong e-mail or password."))
    with web.uow() as uow:
        version = auth.session_version(uow, principal.user_id)
    session = web.request.session
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["user_id"] = principal.user_id
    session["sv"] = version
    session["csrf"] = secrets.token_urlsafe(32)
    return web.redirect(safe_next(next))


@router.post("/logout")
def logout(web: WebDep, _csrf: CsrfDep):
    if web.principal is not None:
        with web.uow() as uow:
            auth.end_sessions(uow, web.principal.user_id)
            uow.commit()
    session = web.request.session
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return web.redirect("/login")
