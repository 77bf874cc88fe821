"""Signing in and out. The session keeps user_id and a CSRF token; both are
renewed at login (no session fixation); the chosen language survives."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Form

from qoima.platform import auth
from qoima.entrypoints.web.common import CsrfDep, WebDep, page_router, safe_next

router = page_router()


@router.get("/login")
def login_form(web: WebDep, next: str = "/"):
    if web.principal is not None:
        return web.redirect(safe_next(next))
    return web.render("login.html", next=safe_next(next), email="", error=None)


@router.post("/login")
def login(web: WebDep, _csrf: CsrfDep, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/"):
    with web.uow() as uow:
        principal = auth.authenticate(uow, email, password)
    if principal is None:
        return web.render("login.html", status=401, next=safe_next(next), email=email,
                          error=web._("Wrong e-mail or password."))
    session = web.request.session
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["user_id"] = principal.user_id
    session["csrf"] = secrets.token_urlsafe(32)
    return web.redirect(safe_next(next))


@router.post("/logout")
def logout(web: WebDep, _csrf: CsrfDep):
    session = web.request.session
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return web.redirect("/login")
