"""The signed-in user's own account: a new password (the current one is checked, throttled like a
sign-in) and "sign out everywhere". Both bump the user's session version (platform/auth.py), which
ends every other session at once; a password change keeps this browser signed in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form

from qoima.platform import auth, login_throttle
from qoima.platform.errors import DomainError
from qoima.entrypoints.web import i18n
from qoima.entrypoints.web.common import CsrfDep, UserDep, Web, page_router
from qoima.entrypoints.web.pages.auth import client_address

router = page_router()


def _page(web: Web, error: str | None = None, status: int = 200):
    return web.render("account.html", status=status, error=error)


@router.get("/account")
def account_page(web: UserDep):
    return _page(web)


@router.post("/account/password")
def change_password(web: UserDep, _csrf: CsrfDep, current: Annotated[str, Form()] = "",
                    new: Annotated[str, Form()] = "", repeat: Annotated[str, Form()] = ""):
    throttle = login_throttle.Throttle.from_settings(web.request.app.state.settings)
    try:
        ok = login_throttle.authenticate(web.engine, throttle, web.principal.email, current,
                                         client_address(web.request))
    except login_throttle.LoginThrottled as exc:
        resp = _page(web, web._("Too many failed sign-in attempts. Try again %(when)s.",
                                when=i18n.fmt_wait(exc.retry_after, web.lang)), 429)
        resp.headers.update(exc.headers)
        return resp
    if ok is None:
        return _page(web, web._("The current password is wrong."), 422)
    if new != repeat:
        return _page(web, web._("The new passwords do not match."), 422)
    if len(new) < 8:
        return _page(web, web._("The new password needs at least 8 characters."), 422)
    try:
        with web.uow() as uow:
            auth.set_password(uow, web.principal.email, new)
            version = auth.session_version(uow, web.principal.user_id)
            uow.commit()
    except DomainError as exc:
        return _page(web, web.error(exc), 422)
    web.request.session["sv"] = version  # this browser stays signed in; every other session has ended
    web.flash("success", web._("Password changed. You were signed out everywhere else."))
    return web.redirect("/account")


@router.post("/account/logout-everywhere")
def logout_everywhere(web: UserDep, _csrf: CsrfDep):
    with web.uow() as uow:
        auth.end_sessions(uow, web.principal.user_id)
        uow.commit()
    lang = web.session.get("lang")
    web.request.session.clear()
    if lang:
        web.request.session["lang"] = lang
    return web.redirect("/login")
