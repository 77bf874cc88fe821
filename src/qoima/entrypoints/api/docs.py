"""The API docs at /docs, offline: Swagger UI's script and style are served from the installed
`swagger-ui-bundle` package (under /docs/assets), not from a CDN, so the page works without the
internet and its CSP allows 'self' only (security_headers.docs_csp hashes its one inline set-up
script). /redoc, whose ReDoc script only a CDN serves, leads to /docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    """Add /docs (a Starlette route, like FastAPI's own: public, outside the role matrix) and its assets."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    async def docs(_request):
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None})  # no badge fetched from the validator's site

    async def redoc(_request):
        return RedirectResponse("/docs", status_code=308)

    app.add_route("/docs", docs, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
