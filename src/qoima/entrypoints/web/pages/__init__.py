"""The server-rendered web shell. `install(app)` mounts /static and includes the
`router` of every module in this package (each made with
`common.page_router()`), so a new page is one module here plus its template.

Modules: auth (/login, /logout), dashboard (/), orders (/orders, /orders/{id}),
stock (/stock, /products), receiving (/receipts, /receipts/{id}, /inbound, /inbound/{id}), admin (/admin/sellers, /admin/users, /admin/tokens),
account (/account: own password, sign out everywhere).
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from qoima.entrypoints.web.common import STATIC_DIR


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        module = importlib.import_module(f"{__name__}.{mod}")
        if hasattr(module, "router"):
            app.include_router(module.router)
