"""The `qoima` command line."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from qoima.platform import logs
from qoima.platform.settings import get_settings

app = typer.Typer(help="Qoima fulfillment platform", no_args_is_help=True, add_completion=False)
token_app = typer.Typer(help="API tokens", no_args_is_help=True)
user_app = typer.Typer(help="Users", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
console = Console(stderr=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="where the SQLite file lives (default ./.qoima)",
                                                 envvar="QOIMA_DATA_DIR")]
DbUrl = Annotated[Optional[str], typer.Option("--database-url", envvar="QOIMA_DATABASE_URL",
                                              help="PostgreSQL URL; default: SQLite under --data-dir")]


def _configure(data_dir: Path | None, database_url: str | None = None):
    if data_dir is not None:
        os.environ["QOIMA_DATA_DIR"] = str(data_dir)
    if database_url:
        os.environ["QOIMA_DATABASE_URL"] = database_url
    get_settings.cache_clear()
    s = get_settings()
    logs.setup(s.log_level, s.log_json)
    return s


def engine_for(data_dir: Path | None, database_url: str | None = None, migrate: bool = True):
    from qoima.db.engine import make_engine
    from qoima.db.migrate import upgrade
    s = _configure(data_dir, database_url)
    engine = make_engine(s.resolved_database_url(), lock_timeout_ms=s.db_lock_timeout_ms)
    if migrate:
        upgrade(engine)
    return engine


@app.command()
def migrate(data_dir: DataDir = None, database_url: DbUrl = None):
    """Create or upgrade the database schema (Alembic)."""
    engine = engine_for(data_dir, database_url)
    console.print(f"[green]schema up to date[/] on {engine.url.render_as_string(hide_password=True)}")


@app.command()
def demo(data_dir: DataDir = None, host: str = "127.0.0.1", port: int = 8000, orders: int = 200,
         serve: Annotated[bool, typer.Option(help="start the server after seeding")] = True):
    """Seed demo data (once) and run API + web + worker in one process on SQLite."""
    from qoima import demo as demo_data
    engine = engine_for(data_dir)
    with console.status("seeding demo data..."):
        created = demo_data.seed(engine, orders=orders)
        if created and importlib.util.find_spec("qoima.analytics.services.history") is not None:
            importlib.import_module("qoima.analytics.services.history").seed_history(engine)
    console.print("[green]demo data created[/]" if created else "demo data already present (nothing added)")
    console.print(f"\nQoima is at [bold]http://{host}:{port}[/]   (API docs: http://{host}:{port}/docs)")
    for email, password, role, seller in demo_data.LOGINS:
        console.print(f"  {role:8} {email:24} password: {password}" + (f"  (seller {seller})" if seller else ""))
    if not serve:
        return
    import uvicorn

    from qoima.entrypoints.api.app import create_app
    from qoima.entrypoints.worker import start_thread
    stop = start_thread(engine)  # also computes the analytics snapshots of the pages, within seconds
    try:
        uvicorn.run(create_app(engine), host=host, port=port, log_level="warning")
    finally:
        stop.set()


def _prometheus_multiprocess_dir(data_dir: Path) -> Path:
    """Several API processes: /metrics adds up their counters (prometheus-client multiprocess mode),
    from files in PROMETHEUS_MULTIPROC_DIR (by default <data dir>/prometheus, emptied at start)."""
    import shutil
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(chosen) if chosen else Path(data_dir) / "prometheus"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


@app.command()
def serve(data_dir: DataDir = None, database_url: DbUrl = None, host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(help="API processes")] = 2):
    """Run the API and web in several processes (use PostgreSQL for more than one)."""
    engine_for(data_dir, database_url)
    import uvicorn
    if workers > 1:
        _prometheus_multiprocess_dir(data_dir or get_settings().data_dir)
    uvicorn.run("qoima.entrypoints.asgi:app", host=host, port=port, workers=workers, log_level="info",
                access_log=False)


@app.command()
def worker(data_dir: DataDir = None, database_url: DbUrl = None, once: bool = False, interval: float = 1.0):
    """Drain the outbox: deliver events, retry failures with back-off, park dead ones."""
    from qoima.entrypoints import worker as w
    engine = engine_for(data_dir, database_url)
    n = w.run(engine, interval=interval, once=once, max_attempts=get_settings().outbox_max_attempts)
    console.print(f"handled {n} event(s)")


@token_app.command("create")
def token_create(email: Annotated[str, typer.Option("--email")], name: str = "cli", data_dir: DataDir = None,
                 database_url: DbUrl = None):
    """Create an API token for a user and print it (shown once; stored hashed)."""
    from qoima.platform.errors import DomainError
    from qoima.platform import auth
    from qoima.platform.unit_of_work import UnitOfWork
    engine = engine_for(data_dir, database_url)
    try:
        with UnitOfWork(engine) as uow:
            token = auth.create_token(uow, email, name)
            uow.commit()
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(2)
    typer.echo(token)


@token_app.command("list")
def token_list(email: Annotated[Optional[str], typer.Option("--email", help="only this user's tokens")] = None,
               as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
               data_dir: DataDir = None, database_url: DbUrl = None):
    """List API tokens (never their secret): id, user, name, prefix, created, last used, expires, revoked."""
    from qoima.platform import auth
    from qoima.platform.access import SYSTEM
    from qoima.platform.unit_of_work import UnitOfWork
    engine = engine_for(data_dir, database_url)
    with UnitOfWork(engine) as uow:
        items = auth.list_tokens(uow, SYSTEM, email)
    if as_json:
        for item in items:
            typer.echo(json.dumps(item, default=str))
        return
    typer.echo("\t".join(("id", "user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")))
    for i in items:
        typer.echo("\t".join(str(v if v is not None else "-") for v in (
            i["id"], i["user"], i["name"], i["prefix"], i["created_at"], i["last_used_at"], i["expires_at"],
            i["revoked_at"])))


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="the id shown by `qoima token list`")],
                 data_dir: DataDir = None, database_url: DbUrl = None):
    """Revoke an API token: every API process refuses it from its next request on."""
    from qoima.platform.errors import DomainError
    from qoima.platform import auth
    from qoima.platform.access import SYSTEM
    from qoima.platform.unit_of_work import UnitOfWork
    engine = engine_for(data_dir, database_url)
    try:
        with UnitOfWork(engine) as uow:
            item = auth.revoke_token(uow, SYSTEM, token_id)
            uow.commit()
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(2)
    typer.echo(f"revoked token {item['id']} ({item['prefix']}..., {item['user']}) at {item['revoked_at']}")


@user_app.command("set-password")
def user_set_password(email: Annotated[str, typer.Option("--email")],
                      password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True,
                                                            confirmation_prompt=True)],
                      data_dir: DataDir = None, database_url: DbUrl = None):
    """Set a user's password; every web session of the user ends."""
    from qoima.platform.errors import DomainError
    from qoima.platform import auth
    from qoima.platform.unit_of_work import UnitOfWork
    engine = engine_for(data_dir, database_url)
    try:
        with UnitOfWork(engine) as uow:
            auth.set_password(uow, email, password)
            uow.commit()
    except DomainError as exc:
        console.print(f"[red]{exc.field}: {exc.message}[/]")
        raise typer.Exit(2)
    typer.echo(f"password of {email} changed; the user's web sessions have ended")


@user_app.command("logout-everywhere")
def user_logout_everywhere(email: Annotated[str, typer.Option("--email")], data_dir: DataDir = None,
                           database_url: DbUrl = None):
    """End every web session of a user (API tokens are revoked with `qoima token revoke`)."""
    from sqlalchemy import select

    from qoima.db import tables as t
    from qoima.platform import auth
    from qoima.platform.unit_of_work import UnitOfWork
    engine = engine_for(data_dir, database_url)
    with UnitOfWork(engine) as uow:
        uid = uow.execute(select(t.users.c.id).where(t.users.c.email == email.strip().lower())).scalar()
        if uid is None:
            console.print(f"[red]no user {email}[/]")
            raise typer.Exit(2)
        auth.end_sessions(uow, uid)
        uow.commit()
    typer.echo(f"every web session of {email} has ended")


@user_app.command("create")
def user_create(email: Annotated[str, typer.Option("--email")], role: Annotated[str, typer.Option("--role")],
                password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True)],
                seller: Annotated[Optional[str], typer.Option("--seller")] = None, data_dir: DataDir = None,
                database_url: DbUrl = None):
    """Create a user (admin, manager, worker, or seller with --seller CODE)."""
    from sqlalchemy import select

    from qoima.db import tables as t
    from qoima.platform.errors import DomainError
    from qoima.platform import auth
    from qoima.platform.unit_of_work import UnitOfWork
    engine = engine_for(data_dir, database_url)
    try:
        with UnitOfWork(engine) as uow:
            sid = uow.execute(select(t.sellers.c.id).where(t.sellers.c.code == seller)).scalar() if seller else None
            if seller and sid is None:
                raise typer.BadParameter(f"unknown seller '{seller}'", param_hint="--seller")
            uid = auth.create_user(uow, email=email, password=password, role=role, seller_id=sid)
            uow.commit()
    except DomainError as exc:
        console.print(f"[red]{exc.field}: {exc.message}[/]")
        raise typer.Exit(2)
    typer.echo(json.dumps({"id": uid, "email": email, "role": role}))


def _optional(module: str, name: str) -> None:
    if importlib.util.find_spec(module) is not None:
        app.add_typer(importlib.import_module(module).app, name=name)


_optional("qoima.entrypoints.cli.imports", "import")
_optional("qoima.entrypoints.cli.bench", "bench")
_optional("qoima.entrypoints.cli.clv", "clv")
_optional("qoima.entrypoints.cli.simulate", "simulate")
_optional("qoima.entrypoints.cli.route", "route")


def main() -> None:
    app()
