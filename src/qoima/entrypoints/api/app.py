"""The FastAPI application: REST API, web pages, metrics."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import pkgutil
from datetime import datetime

from fastapi import Depends, FastAPI
from fastapi.encoders import ENCODERS_BY_TYPE
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from qoima import __version__
from qoima.db import pg_async
from qoima.db.engine import make_engine
from qoima.platform.bounds import rfc3339
from qoima.platform.settings import Settings, get_settings
from qoima.entrypoints.api import docs, errors, routes
from qoima.entrypoints.api.authorize import authorize
from qoima.entrypoints.api.metrics import Metrics
from qoima.entrypoints.api.security_headers import SecurityHeaders


class _MetricsMiddleware:
    def __init__(self, app, metrics: Metrics):
        self.call = metrics.asgi(app)

    async def __call__(self, scope, receive, send):
        await self.call(scope, receive, send)


def _answers_in_utc() -> None:
    """Every datetime FastAPI encodes into an answer (the routes return dicts from the services, which
    read naive UTC from the database) is RFC 3339 with its offset, as pydantic writes a UtcDateTime field."""
    ENCODERS_BY_TYPE[datetime] = rfc3339


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    _answers_in_utc()
    engine = engine or make_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size,
                                   lock_timeout_ms=settings.db_lock_timeout_ms)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await pg_async.close_pools(engine)  # the event loop's PostgreSQL connections (express intake)

    app = FastAPI(title="Qoima", version=__version__, lifespan=lifespan, dependencies=[Depends(authorize)],
                  docs_url=None, redoc_url=None,  # entrypoints/api/docs.py: /docs served without a CDN
                  description="Fulfillment platform API: orders, stock, warehouses. Authenticate with "
                              "`Authorization: Bearer <token>` (`qoima token create --email E`).")
    app.state.engine = engine
    app.state.settings = settings
    app.state.metrics = Metrics(engine)
    app.add_middleware(SessionMiddleware, secret_key=settings.resolved_secret(), session_cookie="qoima_session",
                       same_site="lax", https_only=settings.env == "production", max_age=14 * 24 * 3600)
    app.add_middleware(_MetricsMiddleware, metrics=app.state.metrics)
    from qoima.entrypoints.uploads import UploadLimit
    app.add_middleware(UploadLimit)  # outermost: an oversized upload is refused before anything reads it
    errors.install(app)
    docs.install(app)
    # Starlette matches routes in order, and each router passed costs the request time (~0.1 ms on
    # the 2-core machine for the dozen here): order intake, the hottest path, is matched first
    names = sorted(m.name for m in pkgutil.iter_modules(routes.__path__))
    for mod in sorted(names, key=lambda name: name != "orders"):
        app.include_router(importlib.import_module(f"{routes.__name__}.{mod}").router)
    if importlib.util.find_spec("qoima.entrypoints.web.pages") is not None:
        importlib.import_module("qoima.entrypoints.web.pages").install(app)
    from qoima.channels import webhooks  # noqa: F401 - registers outbox handlers
    # security headers around the whole stack, so Starlette's own 500 page gets them too
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build_stack(), production=settings.env == "production")
    return app
