"""Security headers on every response: API, web pages, static files, errors (500s included, since
create_app wraps the whole middleware stack in this).

- Content-Security-Policy: everything from 'self', no inline script, no inline style, no plugins,
  forms post only here, and frame-ancestors 'none' (with X-Frame-Options DENY for old browsers), so
  no other site can frame a page with a cancel button.
- X-Content-Type-Options nosniff, Referrer-Policy same-origin, a Permissions-Policy that turns off
  camera, microphone and geolocation, Cross-Origin-Opener-Policy same-origin.
- Strict-Transport-Security only under QOIMA_ENV=production (local runs are plain http).

The API docs (/docs) are Swagger UI served from an installed package (entrypoints/api/docs.py), set
up by one inline script: its CSP allows exactly that script by SHA-256 hash, computed from the page
itself, and otherwise 'self' only, like every other page (no CDN; /redoc leads to /docs).

A route may set its own header of the same name; it is then kept. Written by hand (a plain ASGI
wrapper, ~80 lines): the `secure` package only builds header values for a response object, and a
Starlette BaseHTTPMiddleware would cost every API request a task and a body copy.
"""

from __future__ import annotations

import base64
import hashlib
import re

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"
DOCS_PATHS = ("/docs",)
_INLINE = re.compile(rb"<(script|style)>(.*?)</\1>", re.S)


def static_headers(production: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-security-policy", CSP), (b"x-frame-options", "DENY"),
               (b"x-content-type-options", "nosniff"), (b"referrer-policy", "same-origin"),
               (b"permissions-policy", "camera=(), microphone=(), geolocation=()"),
               (b"cross-origin-opener-policy", "same-origin")]
    if production:
        headers.append((b"strict-transport-security", HSTS))
    return [(name, value.encode()) for name, value in headers]


def docs_csp(html: bytes, path: str) -> str:
    """The CSP of a docs page: its own inline scripts and styles by hash, the docs' asset sources."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        hashes[kind.decode()].append("'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'")
    directives = {"default-src": ["'self'"], "script-src": ["'self'", *hashes["script"]],
                  "style-src": ["'self'", *hashes["style"]], "img-src": ["'self'", "data:"], "font-src": ["'self'"],
                  "worker-src": ["'self'", "blob:"], "connect-src": ["'self'"], "object-src": ["'none'"],
                  "base-uri": ["'self'"], "form-action": ["'self'"], "frame-ancestors": ["'none'"]}
    return "; ".join(" ".join([name, *(v for v in values if v)]) for name, values in directives.items())


class SecurityHeaders:
    """ASGI wrapper adding the headers to every HTTP response it passes on."""

    def __init__(self, app, production: bool = False):
        self.app = app
        self.headers = static_headers(production)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope.get("path") in DOCS_PATHS:
            return await self._docs(scope, receive, send)

        async def add_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = self._merged(message.get("headers", []))
            await send(message)
        await self.app(scope, receive, add_headers)

    def _merged(self, headers, csp: str | None = None) -> list:
        headers = list(headers)
        present = {name.lower() for name, _ in headers}
        for name, value in self.headers:
            if name == b"content-security-policy" and csp is not None:
                value = csp.encode()
            if name not in present:
                headers.append((name, value))
        return headers

    async def _docs(self, scope, receive, send):
        """Buffer the (small) docs page to hash its inline script and style."""
        start, body = None, []

        async def collect(message):
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                html = b"".join(body)
                start["headers"] = self._merged(start.get("headers", []), docs_csp(html, scope["path"]))
                await send(start)
                await send({"type": "http.response.body", "body": html})
                return
            await send(message)
        await self.app(scope, receive, collect)
