"""ASGI entry for `qoima serve` workers and any ASGI server: `uvicorn qoima.entrypoints.asgi:app`."""

from qoima.entrypoints.api.app import create_app

app = create_app()
