"""Errors as RFC 9457 application/problem+json, naming the field that is wrong."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qoima.platform.errors import DomainError

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
        extra = {k: v for k, v in exc.extra.items() if v is not None}
        resp = problem(exc.status, exc.title, exc.message, field=exc.field, **extra)
        resp.headers.update(getattr(exc, "headers", None) or {})  # e.g. Retry-After of a 429
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        errors = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                return problem(400, "Malformed JSON", f"request body is not valid JSON: {e.get('msg')}",
                               field="body", errors=[{"field": "body", "message": e.get("msg")}])
            msg = e.get("msg", "").removeprefix("Value error, ")
            errors.append({"field": _loc(e.get("loc", ())), "message": msg})
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(422, "Invalid input", f"{first['field']}: {first['message']}", field=first["field"],
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        resp = problem(exc.status_code, "Error", str(exc.detail))
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp
