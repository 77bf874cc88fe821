"""Errors as RFC 9457 application/problem+json, naming the field that is wrong."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qoima.platform.errors import DomainError, problem_body

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _loc(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_req: Request, exc: DomainError):
        body = problem_body(exc)
        resp = JSONResponse(body, status_code=exc.status, media_type=PROBLEM)
        resp.headers.update(getattr(exc, "headers", None) or {})  # e.g. Retry-After of a 429
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        wrong_method = _literal_path_methods(_req)
        if wrong_method:  # GET /api/v1/orders/import is not the order "import": that path takes POST only
            resp = problem(405, "Error", "Method Not Allowed")
            resp.headers["Allow"] = wrong_method
            return resp
        errors = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                return problem(400, "Malformed JSON", f"request body is not valid JSON: {e.get('msg')}",
                               field="body", errors=[{"field": "body", "message": e.get("msg")}])
            msg = e.get("msg", "").removeprefix("Value error, ")
            # type: Pydantic's error type -- a limit the schema states (string_too_long, int_type, ...) or
            # value_error, a rule beyond JSON Schema (a barcode's check digit, a date range, the order total)
            item = {"field": _loc(e.get("loc", ())), "message": msg, "type": e.get("type", "value_error")}
            rule = getattr((e.get("ctx") or {}).get("error"), "domain_error", None)  # a domain rule's error
            if rule is not None:
                item.update(code=rule.code, params=problem_body(rule)["params"])
            errors.append(item)
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(422, "Invalid input", f"{first['field']}: {first['message']}", field=first["field"],
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        resp = problem(exc.status_code, "Error", str(exc.detail))
        if exc.headers:
            resp.headers.update(exc.headers)
        allowed = _allowed_methods(_req) if exc.status_code == 405 else None
        if allowed:  # Starlette names the methods of the first route of the path only
            resp.headers["Allow"] = allowed
        return resp


def _literal_path_methods(request: Request) -> str | None:
    """When the request's path is a documented path without parameters that does not take the
    request's method (it was taken for a parameter of another route): that path's methods."""
    ops = request.app.openapi().get("paths", {}).get(request.url.path)
    if not ops or request.method.lower() in ops:
        return None
    return ", ".join(sorted(m.upper() for m in ops))


def _allowed_methods(request: Request) -> str | None:
    """Every method the OpenAPI document lists for the request's path (None: not an API path)."""
    paths = getattr(request.app.state, "allowed_methods", None)
    if paths is None:
        paths = []
        for template, ops in request.app.openapi().get("paths", {}).items():
            ints = {p["name"] for op in ops.values() for p in op.get("parameters", [])
                    if p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"}
            regex = re.sub(r"\\{([^}]+)\\}", lambda m: "[0-9]+" if m.group(1) in ints else "[^/]+",
                           re.escape(template))
            methods = {m.upper() for m in ops} & {"GET", "POST", "PUT", "PATCH", "DELETE"}
            paths.append((re.compile(f"^{regex}$"), methods))
        request.app.state.allowed_methods = paths
    found = set().union(*[m for rx, m in paths if rx.match(request.url.path)])
    return ", ".join(sorted(found)) or None


# ---------------------------------------------------------------- OpenAPI: the error responses routes declare

PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what is wrong, in English"},
        "code": {"type": "string", "description": "stable dotted code of the error (e.g. orders.invalid_transition)"},
        "params": {"type": "object", "description": "the values of the message, to render it in another language"},
        "field": {"type": ["string", "null"], "description": "the input that is wrong (e.g. lines[0].quantity)"},
        "errors": {"type": "array", "description": "every wrong field (invalid input)",
                   "items": {"type": "object", "properties": {"field": {"type": "string"},
                                                              "message": {"type": "string"},
                                                              "code": {"type": "string"},
                                                              "params": {"type": "object"},
                                                              "type": {"type": "string"}}}},
    },
    "additionalProperties": True,
}
_WHY = {400: "Malformed request (JSON or multipart body that cannot be read)",
        401: "Authentication required, or the token is invalid or revoked",
        403: "Not allowed for this user (role or seller), or CSRF token missing",
        404: "Not found (or not visible to this user)",
        409: "Conflict with the current state (status, stock, an idempotency key in use)",
        413: "The uploaded file is larger than the limit",
        422: "Invalid input: `field` names what is wrong, `errors` lists every wrong field",
        429: "Too many requests: retry after `Retry-After` seconds"}


def problems(*codes: int) -> dict:
    """`responses=` of a route: each status as application/problem+json (RFC 9457)."""
    return {code: {"description": _WHY[code], "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}} for code in codes}


# what every authenticated API route can answer; routers add them all, routes add their own (404, 409, 413)
COMMON = problems(400, 401, 403, 422)
