"""API tokens and web sessions end when they should, in every process at once. Reproduces the
findings first: a revoked token worked for up to 30 s per process (a per-process cache), tokens
never expired, last_used_at was never written, there was no way to list or revoke them, and a
session cookie copied before logout worked for 14 days."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from conftest import build_world
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from qoima.db import tables as t
from qoima.db.engine import make_engine
from qoima.db.migrate import upgrade
from qoima.entrypoints.api.app import create_app
from qoima.entrypoints.cli import app as cli
from qoima.platform import auth
from qoima.platform.settings import Settings, get_settings
from qoima.platform.unit_of_work import UnitOfWork, utcnow

SECRET = "test-secret-key-not-for-production"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def token_id(engine, token: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(t.api_tokens.c.id).where(
            t.api_tokens.c.token_hash == auth.hash_token(token))).scalar_one()


def token_row(engine, token: str):
    with engine.connect() as conn:
        return conn.execute(select(t.api_tokens).where(t.api_tokens.c.token_hash == auth.hash_token(token))).one()


def web_login(client, email: str, password: str = "password123"):
    token = CSRF.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"email": email, "password": password, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def web_logout(client):
    token = CSRF.search(client.get("/orders").text).group(1)
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303


def signed_in(client, cookie: str) -> bool:
    """Does this session cookie (alone) open a page and an API call?"""
    client.cookies.clear()
    client.cookies.set("qoima_session", cookie)
    page = client.get("/orders", follow_redirects=False)
    api = client.get("/api/v1/orders")
    client.cookies.clear()
    assert (page.status_code == 200) == (api.status_code == 200), (page.status_code, api.status_code)
    return page.status_code == 200


def app_of(engine, tmp_path, **kw):
    return create_app(engine, Settings(data_dir=tmp_path / "data", secret_key=SECRET, **kw))


# --- two processes --------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """A `qoima serve` subprocess on a free port and an SQLite file; the world built in it."""
    db = tmp_path / "served.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    world = build_world(engine)
    port = _free_port()
    env = {**os.environ, "QOIMA_DATABASE_URL": f"sqlite:///{db}", "QOIMA_SECRET_KEY": SECRET,
           "QOIMA_DATA_DIR": str(tmp_path / "served-data"), "QOIMA_LOG_LEVEL": "WARNING"}
    env.pop("QOIMA_ENV", None)
    qoima = str(Path(sys.executable).with_name("qoima"))
    proc = subprocess.Popen([qoima, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("qoima serve did not start: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.2)
    try:
        yield world, base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        engine.dispose()


def test_revocation_and_logout_in_one_process_end_them_in_another_at_once(served, tmp_path):
    world, base = served
    other = httpx.Client(base_url=base, timeout=10)
    token = world.tokens["seller_a"]
    assert other.get("/api/v1/orders", headers=bearer(token)).status_code == 200  # the other process has used it
    # a session signed in on the other process, its cookie copied
    web_login(other, "manager@qoima.local")
    copied = other.cookies["qoima_session"]
    assert signed_in(other, copied)
    with TestClient(app_of(world.engine, tmp_path)) as here:
        r = here.delete(f"/api/v1/tokens/{token_id(world.engine, token)}", headers=bearer(token))
        assert r.status_code == 200 and r.json()["revoked_at"]
        # the very next request to the other process is refused
        refused = other.get("/api/v1/orders", headers=bearer(token))
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        # logging out here (with the same cookie) ends the session there too
        here.cookies.set("qoima_session", copied)
        web_logout(here)
    assert not signed_in(other, copied)
    other.close()


def test_two_app_instances_on_one_database(world, tmp_path):
    one, two = app_of(world.engine, tmp_path), app_of(world.engine, tmp_path)
    with TestClient(one) as a, TestClient(two) as b:
        token = world.tokens["seller_b"]
        assert b.get("/api/v1/orders", headers=bearer(token)).status_code == 200
        assert a.delete(f"/api/v1/tokens/{token_id(world.engine, token)}",
                        headers=world.headers("admin")).status_code == 200
        assert b.get("/api/v1/orders", headers=bearer(token)).status_code == 401
        web_login(b, "a@seller-a.kz")
        copied = b.cookies["qoima_session"]
        assert signed_in(a, copied)
        b.cookies.set("qoima_session", copied)
        web_logout(b)
        assert not signed_in(a, copied) and not signed_in(b, copied)


# --- tokens ---------------------------------------------------------------------------------------------------

def test_tokens_expire(client, world, monkeypatch):
    token = world.tokens["manager"]
    row = token_row(world.engine, token)
    assert row.expires_at - row.created_at == timedelta(days=90)  # QOIMA_TOKEN_TTL_DAYS default
    assert client.get("/api/v1/orders", headers=bearer(token)).status_code == 200
    with world.engine.begin() as conn:
        conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == row.id)
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    r = client.get("/api/v1/orders", headers=bearer(token))
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    monkeypatch.setenv("QOIMA_TOKEN_TTL_DAYS", "7")
    get_settings.cache_clear()
    try:
        with UnitOfWork(world.engine) as uow:
            seven = auth.create_token(uow, "manager@qoima.local", "short")
            never = auth.create_token(uow, "manager@qoima.local", "forever", ttl_days=0)
            uow.commit()
    finally:
        get_settings.cache_clear()
    short = token_row(world.engine, seven)
    assert short.expires_at - short.created_at == timedelta(days=7)
    assert token_row(world.engine, never).expires_at is None
    assert client.get("/api/v1/orders", headers=bearer(never)).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(client, world):
    token = world.tokens["worker"]
    assert token_row(world.engine, token).last_used_at is None
    assert client.get("/api/v1/stock", headers=bearer(token)).status_code == 200
    first = token_row(world.engine, token).last_used_at
    assert first is not None and utcnow() - first < timedelta(seconds=30)
    client.get("/api/v1/stock", headers=bearer(token))
    assert token_row(world.engine, token).last_used_at == first  # not again within the minute
    tid = token_id(world.engine, token)
    with world.engine.begin() as conn:  # a minute later
        conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == tid)
                     .values(last_used_at=first - timedelta(seconds=61)))
    client.get("/api/v1/stock", headers=bearer(token))
    assert token_row(world.engine, token).last_used_at > first - timedelta(seconds=1)


def test_list_and_revoke_through_the_api(client, world):
    mine = client.get("/api/v1/tokens", headers=world.headers("seller_a")).json()["items"]
    assert [k["user"] for k in mine] == ["a@seller-a.kz"]
    assert set(mine[0]) == {"id", "name", "prefix", "user", "created_at", "last_used_at", "expires_at",
                            "revoked_at"} and world.tokens["seller_a"] not in str(mine)
    everyone = client.get("/api/v1/tokens", headers=world.headers("admin")).json()["items"]
    assert len(everyone) == 5
    one = client.get("/api/v1/tokens", params={"email": "b@seller-b.kz"}, headers=world.headers("admin")).json()
    assert [k["user"] for k in one["items"]] == ["b@seller-b.kz"]
    # someone else's token is "not found" to a non-admin, and keeps working
    b_id = token_id(world.engine, world.tokens["seller_b"])
    r = client.delete(f"/api/v1/tokens/{b_id}", headers=world.headers("manager"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert client.delete("/api/v1/tokens/999999", headers=world.headers("manager")).status_code == 404
    assert client.get("/api/v1/orders", headers=world.headers("seller_b")).status_code == 200
    # an admin revokes anyone's
    assert client.delete(f"/api/v1/tokens/{b_id}", headers=world.headers("admin")).status_code == 200
    assert client.get("/api/v1/orders", headers=world.headers("seller_b")).status_code == 401
    # signing in for a token gives one that works and is listed
    r = client.post("/api/v1/auth/token", json={"email": "b@seller-b.kz", "password": "password123", "name": "ci"})
    assert r.status_code == 201 and r.json()["token"].startswith("qma_") and r.json()["expires_at"]
    assert client.get("/api/v1/orders", headers=bearer(r.json()["token"])).status_code == 200
    names = [k["name"] for k in client.get("/api/v1/tokens", headers=bearer(r.json()["token"])).json()["items"]]
    assert names == ["", "ci"]


def test_admin_tokens_page_lists_and_revokes(client, world):
    web_login(client, "admin@qoima.local")
    page = client.get("/admin/tokens")
    assert page.status_code == 200 and "b@seller-b.kz" in page.text and world.tokens["seller_b"] not in page.text
    b_id = token_id(world.engine, world.tokens["seller_b"])
    r = client.post(f"/admin/tokens/{b_id}/revoke", data={"csrf": CSRF.search(page.text).group(1)},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/orders", headers=world.headers("seller_b")).status_code == 401
    assert "revoked" in client.get("/admin/tokens?lang=en", follow_redirects=True).text
    client.cookies.clear()
    web_login(client, "manager@qoima.local")
    assert client.get("/admin/tokens").status_code == 403


# --- sessions -------------------------------------------------------------------------------------------------

def test_a_cookie_copied_before_logout_is_refused_after_it(client, world):
    web_login(client, "manager@qoima.local")
    copied = client.cookies["qoima_session"]
    web_logout(client)
    assert not signed_in(client, copied)
    web_login(client, "manager@qoima.local")  # a new sign-in works again
    assert signed_in(client, client.cookies["qoima_session"])


def test_a_new_password_ends_every_session(client, world, tmp_path, monkeypatch):
    web_login(client, "a@seller-a.kz")
    copied = client.cookies["qoima_session"]
    with UnitOfWork(world.engine) as uow:
        auth.set_password(uow, "a@seller-a.kz", "a-new-password")
        uow.commit()
    assert not signed_in(client, copied)
    web_login(client, "a@seller-a.kz", "a-new-password")


# --- the command line -----------------------------------------------------------------------------------------

@pytest.fixture
def cli_world(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for var in ("QOIMA_DATABASE_URL", "QOIMA_SECRET_KEY", "QOIMA_ENV", "QOIMA_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)  # the CLI sets them; monkeypatch puts the old values back
    db = tmp_path / "cli.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    world = build_world(engine)
    yield world, f"sqlite:///{db}"
    get_settings.cache_clear()
    engine.dispose()


def test_cli_token_list_and_revoke(cli_world, tmp_path):
    world, url = cli_world
    runner = CliRunner()
    listed = runner.invoke(cli, ["token", "list", "--database-url", url], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert lines[0].split("\t")[:4] == ["id", "user", "name", "prefix"] and len(lines) == 6
    assert all(tok not in listed.output for tok in world.tokens.values())
    one = runner.invoke(cli, ["token", "list", "--email", "a@seller-a.kz", "--json", "--database-url", url])
    assert one.exit_code == 0 and one.output.count("\n") == 1 and '"user": "a@seller-a.kz"' in one.output
    a_id = token_id(world.engine, world.tokens["seller_a"])
    with TestClient(app_of(world.engine, tmp_path)) as client:
        assert client.get("/api/v1/orders", headers=world.headers("seller_a")).status_code == 200
        revoked = runner.invoke(cli, ["token", "revoke", str(a_id), "--database-url", url])
        assert revoked.exit_code == 0 and f"revoked token {a_id}" in revoked.output
        assert client.get("/api/v1/orders", headers=world.headers("seller_a")).status_code == 401
        missing = runner.invoke(cli, ["token", "revoke", "999999", "--database-url", url])
        assert missing.exit_code == 2 and "no token 999999" in missing.output
        after = runner.invoke(cli, ["token", "list", "--email", "a@seller-a.kz", "--json", "--database-url", url])
        assert '"revoked_at": null' not in after.output

        web_login(client, "b@seller-b.kz")
        copied = client.cookies["qoima_session"]
        changed = runner.invoke(cli, ["user", "set-password", "--email", "b@seller-b.kz", "--password",
                                      "brand-new-pass", "--database-url", url])
        assert changed.exit_code == 0, changed.output
        assert not signed_in(client, copied)
        web_login(client, "b@seller-b.kz", "brand-new-pass")
        copied = client.cookies["qoima_session"]
        ended = runner.invoke(cli, ["user", "logout-everywhere", "--email", "b@seller-b.kz", "--database-url", url])
        assert ended.exit_code == 0 and not signed_in(client, copied)


def test_account_page_changes_the_password_and_signs_out_everywhere(world, tmp_path):
    app = app_of(world.engine, tmp_path)
    with TestClient(app) as laptop, TestClient(app) as phone:
        web_login(laptop, "manager@qoima.local")
        web_login(phone, "manager@qoima.local")
        page = laptop.get("/account?lang=en", follow_redirects=True)
        assert page.status_code == 200 and "Change password" in page.text
        csrf = CSRF.search(page.text).group(1)
        wrong = laptop.post("/account/password", data={"csrf": csrf, "current": "not-it-at-all", "new": "new-pass-1",
                                                       "repeat": "new-pass-1"})
        assert wrong.status_code == 422 and "The current password is wrong." in wrong.text
        r = laptop.post("/account/password", data={"csrf": csrf, "current": "password123", "new": "new-pass-1",
                                                   "repeat": "new-pass-1"})
        assert r.status_code == 200 and "signed out everywhere else" in r.text
        assert laptop.get("/orders", follow_redirects=False).status_code == 200  # this browser stays in
        assert phone.get("/orders", follow_redirects=False).status_code == 303  # the other one is out
        web_login(phone, "manager@qoima.local", "new-pass-1")
        csrf = CSRF.search(laptop.get("/account").text).group(1)
        assert laptop.post("/account/logout-everywhere", data={"csrf": csrf},
                           follow_redirects=False).status_code == 303
        assert laptop.get("/orders", follow_redirects=False).status_code == 303
        assert phone.get("/orders", follow_redirects=False).status_code == 303
