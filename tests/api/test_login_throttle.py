"""Sign-in throttling (platform/login_throttle.py), reproducing the finding first: 60 wrong passwords
at 4.7/s gave 60 x 401 and then the right password signed in. Now the 11th wrong password is
refused (429), so is the right one during the lockout, the user is told in their language when to
try again, and the counts live in the database (two app instances share them)."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from qoima.db import tables as t
from qoima.entrypoints.api.app import create_app
from qoima.platform.login_throttle import Policy
from qoima.platform.settings import Settings

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret-key-not-for-production", **kw)


def web_login(client, email: str, password: str, lang: str = "en"):
    token = CSRF.search(client.get(f"/login?lang={lang}").text).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf": token},
                       follow_redirects=False)


def api_login(client, email: str, password: str):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def test_the_eleventh_wrong_password_is_throttled_and_the_right_one_too(world, tmp_path):
    # no growing delay here (login_delay_s=0), so the ten failures come as fast as the attacker's
    settings = make_settings(tmp_path, login_delay_s=0)
    with TestClient(create_app(world.engine, settings)) as client:
        for i in range(10):
            r = web_login(client, "manager@qoima.local", f"wrong-{i}")
            assert r.status_code == 401, (i, r.status_code)
        r = web_login(client, "manager@qoima.local", "wrong-11")
        assert r.status_code == 429
        assert "Too many failed sign-in attempts. Try again in 15 minutes." in r.text
        assert 890 <= int(r.headers["retry-after"]) <= 900
        right = web_login(client, "manager@qoima.local", PASSWORD, lang="ru")
        assert right.status_code == 429 and "user_id" not in str(client.cookies)
        assert "Слишком много неудачных попыток входа. Попробуйте снова через 15 минут." in right.text
        assert client.get("/orders", follow_redirects=False).headers["location"].startswith("/login")
        # the API sign-in shares the count: 429 problem+json with Retry-After
        r = api_login(client, "manager@qoima.local", PASSWORD)
        assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
        assert 890 <= int(r.headers["retry-after"]) <= 900
        assert r.json()["retry_after"] == int(r.headers["retry-after"]) and r.json()["status"] == 429
        # another account is not locked by it
        assert web_login(client, "admin@qoima.local", PASSWORD).status_code == 303


def test_api_sign_in_throttled_the_same_way(world, tmp_path):
    settings = make_settings(tmp_path, login_delay_s=0)
    with TestClient(create_app(world.engine, settings)) as client:
        assert [api_login(client, "a@seller-a.kz", "nope-nope").status_code for _ in range(10)] == [401] * 10
        r = api_login(client, "a@seller-a.kz", "nope-nope")
        assert r.status_code == 429 and "try again in" in r.json()["detail"]
        assert api_login(client, "a@seller-a.kz", PASSWORD).status_code == 429


def test_the_delay_grows_after_five_failures(world, tmp_path):
    """Defaults: five free failures, then 1 s, 2 s, 4 s ... before the next attempt is looked at."""
    with TestClient(create_app(world.engine, make_settings(tmp_path))) as client:
        assert [web_login(client, "worker@qoima.local", "bad-pass").status_code for _ in range(5)] == [401] * 5
        r = web_login(client, "worker@qoima.local", PASSWORD)
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert "Try again in 1 second." in r.text
        time.sleep(1.1)
        assert web_login(client, "worker@qoima.local", "bad-pass").status_code == 401  # the 6th failure
        r = web_login(client, "worker@qoima.local", "bad-pass")
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        time.sleep(2.1)
        # the right password after the wait signs in and forgets the failures
        assert web_login(client, "worker@qoima.local", PASSWORD).status_code == 303
    with world.engine.connect() as conn:
        keys = set(conn.execute(select(t.login_throttle.c.key)).scalars())
    assert "account:worker@qoima.local" not in keys


def test_counts_are_shared_by_two_app_instances(world, tmp_path):
    """Two app instances on one database stand for two processes: 5 + 5 failures lock the account."""
    settings = make_settings(tmp_path, login_delay_s=0)
    with TestClient(create_app(world.engine, settings)) as one, TestClient(create_app(world.engine, settings)) as two:
        for i in range(5):
            assert web_login(one, "b@seller-b.kz", f"x-{i}-wrong").status_code == 401
            assert api_login(two, "b@seller-b.kz", f"y-{i}-wrong").status_code == 401
        assert web_login(one, "b@seller-b.kz", PASSWORD).status_code == 429
        assert api_login(two, "b@seller-b.kz", PASSWORD).status_code == 429


def test_per_address_lockout_across_accounts(world, tmp_path):
    """One address spraying many accounts is locked by the address count; another address is not."""
    settings = make_settings(tmp_path, login_delay_s=0, login_ip_free_failures=3, login_ip_lockout_failures=4)
    app = create_app(world.engine, settings)
    with TestClient(app, client=("203.0.113.7", 5000)) as attacker, \
            TestClient(app, client=("198.51.100.2", 5000)) as other:
        emails = ["admin@qoima.local", "manager@qoima.local", "worker@qoima.local", "a@seller-a.kz"]
        assert [api_login(attacker, e, "guess-guess").status_code for e in emails] == [401] * 4
        r = api_login(attacker, "b@seller-b.kz", PASSWORD)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 800
        assert api_login(other, "b@seller-b.kz", PASSWORD).status_code == 201


def test_unknown_accounts_are_throttled_like_known_ones(world, tmp_path):
    """No account enumeration through the throttle: an unknown e-mail locks the same way."""
    settings = make_settings(tmp_path, login_delay_s=0)
    with TestClient(create_app(world.engine, settings)) as client:
        codes = [api_login(client, "nobody@nowhere.kz", "whatever1").status_code for _ in range(11)]
    assert codes == [401] * 10 + [429]


def test_the_schedule_rule():
    p = Policy(free=5, lockout=10, delay_s=1, lockout_s=900)
    assert [p.wait_after(n) for n in range(12)] == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 900, 900]
    assert Policy(free=5, lockout=50, delay_s=1, lockout_s=60).wait_after(30) == 60  # never above the lockout


@pytest.mark.parametrize("lang,text", [("ru", "через 2 минуты"), ("en", "in 2 minutes"), ("ru", "через 1 секунду")])
def test_wait_in_words(lang, text):
    from qoima.entrypoints.web.i18n import fmt_wait
    seconds = 1 if "секунду" in text else 120
    assert fmt_wait(seconds, lang) == text


def test_nul_in_a_sign_in_is_a_clear_422(client, world):
    r = api_login(client, "admin@qoima.local\x00", "password123")
    assert r.status_code == 422 and r.json()["field"] == "email" and "NUL" in r.json()["detail"]
    r = client.get("/api/v1/tokens", params={"email": "a\x00b"}, headers=world.headers("admin"))
    assert r.status_code == 422 and r.json()["field"] == "query.email"
    token = CSRF.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"email": "x@y.kz", "password": "pass\x00word", "csrf": token})
    assert r.status_code == 422
