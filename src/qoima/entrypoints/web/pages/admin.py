"""Administration (admins only): sellers and users."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Form, Path
from pydantic import ValidationError as PydanticError

from qoima.catalog.schemas import SellerIn
from qoima.platform.errors import DomainError
from qoima.platform.schemas import UserIn
from qoima.platform import auth, users as user_admin
from qoima.catalog import services as catalog
from qoima.platform.access import ROLES
from qoima.platform.unit_of_work import utcnow
from qoima.entrypoints.web import i18n, lookups
from qoima.entrypoints.web.common import AdminDep, CsrfDep, PageError, Web, int_param, page_router
from qoima.entrypoints.web.i18n import N_
from qoima.platform.errors import NotFound

router = page_router()
SELLER_CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _valid(web: Web, schema, **values):
    """The API's input schema for the same data; its first error, translated and naming the field, as a
    DomainError (shown on the form; the text is already in the page's language)."""
    try:
        return schema(**values)
    except PydanticError as exc:
        raise DomainError(web.invalid(exc, FIELD_LABELS), code="admin.invalid_input") from None


# the field each refusal names, as the forms show it ("Name: ...")
FIELD_LABELS = {"code": N_("Code"), "name": N_("Name"), "webhook_url": N_("Webhook URL"), "email": N_("E-mail"),
                "password": N_("Password"), "role": N_("Role"), "seller": N_("Seller"), "full_name": N_("Full name"),
                "language": N_("Language"), "user": N_("User")}


def _why(web: Web, exc: DomainError) -> str:
    """The refusal with the name of its field, translated ("Password: ...")."""
    field = (exc.field or "").split(".")[-1]
    reason = web.error(exc)
    if field in FIELD_LABELS and not exc.message.startswith(f"{field}:"):
        return web._("%(field)s: %(reason)s", field=web._(FIELD_LABELS[field]), reason=reason)
    return reason


def _sellers_page(web: Web, form: dict | None = None, error: str | None = None, status: int = 200,
                  new_secret: dict | None = None, edit: dict | None = None, edit_error: str | None = None):
    with web.uow() as uow:
        sellers = lookups.sellers(uow, web.principal)
        stats = lookups.seller_stats(uow, web.principal)
    if edit is None and web.request.method == "GET" and web.request.query_params.get("edit"):
        found = [s for s in sellers if s["code"] == web.request.query_params["edit"]]
        edit = {"code": found[0]["code"], "name": found[0]["name"], "webhook_url": found[0]["webhook_url"] or ""} \
            if found else None
    return web.render("admin_sellers.html", status=status, sellers=sellers, stats=stats,
                      form=form or {"code": "", "name": "", "webhook_url": ""}, form_error=error,
                      new_secret=new_secret, edit=edit, edit_error=edit_error)


@router.get("/admin/sellers")
def sellers_page(web: AdminDep):
    return _sellers_page(web)


@router.post("/admin/sellers")
def create_seller(web: AdminDep, _csrf: CsrfDep, code: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
                  webhook_url: Annotated[str, Form()] = ""):
    form = {"code": code.strip(), "name": name.strip(), "webhook_url": webhook_url.strip()}
    try:
        if not SELLER_CODE.match(form["code"]):
            raise DomainError("The code may have only Latin letters, digits, '-' and '_' (up to 40).", code="admin.seller_code_invalid")
        if not form["name"]:
            raise DomainError("The name is required.", code="admin.name_required")
        data = _valid(web, SellerIn, code=form["code"], name=form["name"], webhook_url=form["webhook_url"] or None)
        with web.uow() as uow:
            catalog.create_seller(uow, web.principal, data.code, data.name, data.webhook_url)
            uow.commit()
    except DomainError as exc:
        return _sellers_page(web, form, web._("The seller was not created: %(reason)s", reason=_why(web, exc)), 422)
    web.flash("success", web._("Seller %(code)s created.", code=form["code"]) + " "
              + web._("Its webhook secret is shown once, when you make a new one."))
    return web.redirect("/admin/sellers")


@router.post("/admin/sellers/{code}/webhook-secret")
def rotate_webhook_secret(code: str, web: AdminDep, _csrf: CsrfDep):
    """A new signing secret, shown on this answer only (not in a flash: that lives in the session cookie)."""
    secret = None
    with web.uow() as uow:
        seller_id = lookups.seller_id_by_code(uow, web.principal, code)
        if seller_id is not None:
            secret = catalog.rotate_webhook_secret(uow, web.principal, seller_id)
            uow.commit()
    if secret is None:
        return _sellers_page(web, error=web._("No seller %(code)s.", code=code), status=404)
    return _sellers_page(web, new_secret={"code": code, "secret": secret})


def _users_page(web: Web, form: dict | None = None, error: str | None = None, status: int = 200,
                edit: dict | None = None, edit_error: str | None = None):
    with web.uow() as uow:
        users = lookups.users(uow, web.principal)
        sellers = lookups.sellers(uow, web.principal)
    if edit is None and web.request.method == "GET":
        wanted = int_param(web.request.query_params.get("edit"))
        found = [u for u in users if u["id"] == wanted]
        edit = {**found[0], "seller": found[0]["seller"] or ""} if found else None
    return web.render("admin_users.html", status=status, users=users, sellers=sellers, roles=ROLES,
                      languages=i18n.available_languages(),
                      form=form or {"email": "", "full_name": "", "role": "seller", "seller": "", "language": web.lang},
                      form_error=error, edit=edit, edit_error=edit_error)


@router.get("/admin/users")
def users_page(web: AdminDep):
    return _users_page(web)


@router.post("/admin/users")
def create_user(web: AdminDep, _csrf: CsrfDep, email: Annotated[str, Form()] = "",
                full_name: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                role: Annotated[str, Form()] = "", seller: Annotated[str, Form()] = "",
                language: Annotated[str, Form()] = "ru"):
    form = {"email": email.strip(), "full_name": full_name.strip(), "role": role, "seller": seller,
            "language": language}
    try:
        _valid(web, UserIn, email=form["email"], password=password, role=role, full_name=form["full_name"])
        with web.uow() as uow:
            seller_id = None
            if role == "seller":
                seller_id = lookups.seller_id_by_code(uow, web.principal, seller)
                if seller_id is None:
                    raise DomainError("Choose the seller this user works for.", code="admin.seller_required")
            uid = auth.create_user(uow, email=form["email"], password=password, role=role, seller_id=seller_id,
                                   full_name=form["full_name"], language=i18n.normalize(language) or "ru")
            uow.commit()
    except DomainError as exc:
        return _users_page(web, form, web._("The user was not created: %(reason)s", reason=_why(web, exc)), 422)
    web.flash("success", web._("User %(email)s created.", email=form["email"]) + f" (#{uid})")
    return web.redirect("/admin/users")


@router.post("/admin/sellers/{code}")
def save_seller(code: str, web: AdminDep, _csrf: CsrfDep, name: Annotated[str, Form()] = "",
                webhook_url: Annotated[str, Form()] = ""):
    edit = {"code": code[:40], "name": name.strip(), "webhook_url": webhook_url.strip()}
    try:
        if not edit["name"]:
            raise DomainError("The name is required.", field="name", code="admin.name_required")
        with web.uow() as uow:
            seller_id = lookups.seller_id_by_code(uow, web.principal, edit["code"])
            if seller_id is None:
                raise PageError(404)
            catalog.update_seller(uow, web.principal, seller_id, edit["name"], edit["webhook_url"] or None)
            uow.commit()
    except DomainError as exc:
        return _sellers_page(web, edit=edit, status=422,
                             edit_error=web._("The seller was not saved: %(reason)s", reason=_why(web, exc)))
    web.flash("success", web._("Seller %(code)s saved.", code=edit["code"]))
    return web.redirect("/admin/sellers")


UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/admin/users/{user_id}")
def save_user(user_id: UserId, web: AdminDep, _csrf: CsrfDep, full_name: Annotated[str, Form()] = "",
              role: Annotated[str, Form()] = "", seller: Annotated[str, Form()] = "",
              language: Annotated[str, Form()] = "", active: Annotated[str, Form()] = ""):
    edit = {"id": user_id, "full_name": full_name.strip(), "role": role, "seller": seller, "language": language,
            "is_active": bool(active)}
    try:
        with web.uow() as uow:
            seller_id = None
            if role == "seller":
                seller_id = lookups.seller_id_by_code(uow, web.principal, seller)
                if seller_id is None:
                    raise DomainError("Choose the seller this user works for.", field="seller", code="admin.seller_required")
            lang = i18n.normalize(language)
            if lang is None:
                raise DomainError("Choose a language of the list.", field="language", code="admin.language_unknown")
            email = user_admin.update_user(uow, web.principal, user_id, user_admin.UserEdit(
                edit["full_name"], role, seller_id, lang, edit["is_active"]))
            uow.commit()
    except NotFound:
        raise PageError(404) from None
    except DomainError as exc:
        return _users_page(web, edit=edit, status=422,
                           edit_error=web._("The user was not saved: %(reason)s", reason=_why(web, exc)))
    web.flash("success", web._("User %(email)s saved.", email=email))
    return web.redirect("/admin/users")


@router.post("/admin/users/{user_id}/password")
def reset_password(user_id: UserId, web: AdminDep, _csrf: CsrfDep, password: Annotated[str, Form()] = ""):
    try:
        with web.uow() as uow:
            email = user_admin.reset_password(uow, web.principal, user_id, password)
            uow.commit()
    except NotFound:
        raise PageError(404) from None
    except DomainError as exc:
        return _users_page(web, status=422, error=web._("The password was not changed: %(reason)s",
                                                         reason=_why(web, exc)))
    web.flash("success", web._("%(email)s has a new password; their sessions have ended.", email=email))
    return web.redirect("/admin/users")


@router.post("/admin/users/{user_id}/deactivate")
def deactivate_user(user_id: UserId, web: AdminDep, _csrf: CsrfDep):
    try:
        with web.uow() as uow:
            row = [u for u in lookups.users(uow, web.principal) if u["id"] == user_id]
            if not row:
                raise PageError(404)
            u = row[0]
            seller_id = lookups.seller_id_by_code(uow, web.principal, u["seller"]) if u["seller"] else None
            email = user_admin.update_user(uow, web.principal, user_id, user_admin.UserEdit(
                u["full_name"], u["role"], seller_id, u["language"], False))
            uow.commit()
    except DomainError as exc:
        return _users_page(web, status=422, error=web._("The user was not deactivated: %(reason)s",
                                                         reason=_why(web, exc)))
    web.flash("success", web._("User %(email)s deactivated: they can no longer sign in.", email=email))
    return web.redirect("/admin/users")


@router.get("/admin/tokens")
def tokens_page(web: AdminDep):
    with web.uow() as uow:
        tokens = auth.list_tokens(uow, web.principal)
    return web.render("admin_tokens.html", tokens=tokens, now=utcnow(),
                      ttl_days=web.request.app.state.settings.token_ttl_days)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(web: AdminDep, _csrf: CsrfDep, token_id: Annotated[int, Path(ge=1, le=2**63 - 1)]):
    with web.uow() as uow:
        item = auth.revoke_token(uow, web.principal, token_id)
        uow.commit()
    web.flash("success", web._("Token %(prefix)s… of %(user)s revoked.", prefix=item["prefix"], user=item["user"]))
    return web.redirect("/admin/tokens")
