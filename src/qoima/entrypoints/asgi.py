"""ASGI entry for `qoima serve` workers and any ASGI server: `uvicorn qoima.entrypoints.asgi:app`.

Once the app is built, the objects that live as long as the process (modules, the app and its
routes, SQLAlchemy's tables and compiled statements, the message catalogs) are moved out of the
garbage collector's sight (`gc.freeze`): the collector stays on with its usual thresholds, but a
full collection no longer walks them all, which paused a worker for 100-600 ms in the middle of
the floor's scans (measured with gc.callbacks under `qoima bench floor`)."""

import gc

from qoima.entrypoints.api.app import create_app

app = create_app()
gc.collect()
gc.freeze()
