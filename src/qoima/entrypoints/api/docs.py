"""The API docs at /docs (Swagger UI), offline: its script and style are served from the installed
`fastapi-offline` package's static folder (Swagger UI 5, which reads OpenAPI 3.1) under /docs/assets,
not from a CDN, so the page works without the internet and its CSP allows 'self' only
(security_headers.docs_csp hashes its one inline set-up script). Only the package's assets are used,
not its FastAPI subclass. /redoc leads to /docs: ReDoc's sidebar loads its vendor's logo from outside."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add /docs and /redoc (Starlette routes, like FastAPI's own: public, outside the role matrix) and the
    assets."""
    app.mount(ASSETS, StaticFiles(directory=str(ASSETS_DIR)), name="docs-assets")
    title = f"{app.title} — API"

    async def docs(_request):
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=title, swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None})  # no badge fetched from the validator's site

    async def redoc(_request):
        return RedirectResponse("/docs", status_code=308)

    app.add_route("/docs", docs, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
