"""Size limits of the import uploads, enforced before anything is parsed.

An ASGI middleware (``UploadLimit``, installed by entrypoints/api/app.py) guards
the import endpoints: ``POST /api/v1/{orders,products,stock}/import`` and the
web page's ``POST /imports``. A request whose ``Content-Length`` is over the
limit is answered at once, without reading its body; for a body without a
``Content-Length`` (chunked) or with a false one, the bytes are counted as they
stream in and the request is stopped as soon as it passes the limit. Nothing of
the body is kept: the multipart parser behind it spools a file part to a
temporary file on disk (Starlette's ``UploadFile``), and the endpoint checks the
file's exact size against the limit again.

The answer is 413 ``application/problem+json`` naming the limit (MB, bytes and
the setting: ``QOIMA_IMPORT_MAX_MB_ORDERS``, ``..._PRODUCTS``, ``..._STOCK``; the
optional ``QOIMA_IMPORT_MAX_MB`` caps all three); the web page is sent back to
``/imports?too_large=<MB>``, which says so in the user's language. The limit
is read from ``app.state.settings`` on every request, so it can be changed at
run time (tests do).

Written by hand: Starlette's multipart parser bounds the number of parts and
the size of non-file fields, but not the size of a file part or of the body.
"""

from __future__ import annotations

import json

from qoima.platform.errors import problem_body
from qoima.platform.jobs import TooLarge

MB = 1024 * 1024
FRAMING = 64 * 1024  # multipart boundaries, part headers and the small form fields around the file
API_PATHS = {"/api/v1/orders/import": "orders", "/api/v1/products/import": "products",
             "/api/v1/stock/import": "stock", "/api/v1/inbound/import": "stock"}  # an ASN's lines: the stock limit
WEB_PATH = "/imports"
KINDS = ("orders", "products", "stock")


def setting_name(kind: str | None) -> str:
    return f"QOIMA_IMPORT_MAX_MB_{kind.upper()}" if kind else "QOIMA_IMPORT_MAX_MB_*"


def too_large(kind: str | None, limit_mb: int) -> TooLarge:
    template = ("the file is larger than %(limit_mb)s MB, the limit of a %(kind)s import (%(setting)s): "
                "split it into smaller files") if kind else ("the file is larger than %(limit_mb)s MB, the limit "
                                                             "of an import (%(setting)s): split it into smaller files")
    exc = TooLarge(template, field="file", code="import.too_large", limit_mb=limit_mb, kind=kind,
                   setting=setting_name(kind))
    exc.extra.update(limit_mb=limit_mb, limit_bytes=limit_mb * MB)
    return exc


def limit_mb(settings, kind: str | None) -> int:
    """The limit of one kind, or (the web page, whose kind is a form field) the largest of them."""
    if kind is None:
        return max(settings.import_limit_mb(k) for k in KINDS)
    return settings.import_limit_mb(kind)


def check_size(file, settings, kind: str) -> None:
    """The uploaded (spooled) file against the exact limit of its kind; TooLarge when it is over."""
    size = file.size
    if size is None:
        pos = file.file.tell()
        size = file.file.seek(0, 2)
        file.file.seek(pos)
    mb = limit_mb(settings, kind)
    if size > mb * MB:
        raise too_large(kind, mb)


class _Stop(Exception):
    """Raised into the app's body reading when the body passes the limit."""


class UploadLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path in API_PATHS:
            kind, web = API_PATHS[path], False
        elif path == WEB_PATH:
            kind, web = None, True
        else:
            return await self.app(scope, receive, send)
        mb = limit_mb(scope["app"].state.settings, kind)
        most = mb * MB + FRAMING
        declared = _content_length(scope)
        if declared is not None and declared > most:
            return await _refuse(send, kind, mb, web)
        state = {"seen": 0, "over": False, "started": False}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > most:
                    state["over"] = True
                    raise _Stop()
            return message

        async def guarded_send(message):
            if state["over"]:
                return  # the app's answer to its interrupted body (a 400) is replaced by the 413
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _refuse(send, kind, mb, web)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send, kind: str | None, mb: int, web: bool) -> None:
    if web:
        headers = [(b"location", f"{WEB_PATH}?too_large={mb}".encode()), (b"content-length", b"0"),
                   (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    exc = too_large(kind, mb)
    body = json.dumps(problem_body(exc)).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
