"""Webhooks a seller can trust (issue 8, finding 9): signed with the seller's secret
(shown once, rotatable), verifiable with the README's function (tampered or replayed
payloads fail), and sent only to public https targets (SSRF: private, loopback,
link-local and file: targets refused when saved and when delivered)."""

from __future__ import annotations

from pathlib import Path

import json
import socket
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from test_outbox_worker import allow_local_webhooks, one_event, outbox_rows, receiver, set_webhook  # noqa: F401

from qoima.channels import webhooks
from qoima.channels.endpoints import BREAKERS
from qoima.db import tables as t
from qoima.entrypoints.api.app import create_app
from qoima.platform import outbox, secret_box, urlguard
from qoima.platform.settings import get_settings


@pytest.fixture
def strict(monkeypatch):
    """The defaults an operator gets: no private targets, no plain http."""
    for name in ("QOIMA_WEBHOOK_ALLOW_PRIVATE", "QOIMA_WEBHOOK_HTTP_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    BREAKERS.reset()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def api(world, settings):
    with TestClient(create_app(world.engine, settings)) as c:
        yield c


def _readme_verify():
    """The verification snippet of the README's Security section, run as a seller would paste it."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("## Security", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    return scope["verify"]


def test_deliveries_are_signed_and_a_tampered_or_replayed_payload_fails(world, receiver, monkeypatch, api):
    allow_local_webhooks(monkeypatch)
    created = api.post("/api/v1/sellers", json={"code": "shop", "name": "Shop", "webhook_url": receiver.url},
                       headers=world.headers("manager"))
    assert created.status_code == 201, created.text
    secret = created.json()["webhook_secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    with world.engine.connect() as conn:
        stored = conn.execute(select(t.sellers.c.webhook_secret).where(t.sellers.c.code == "shop")).scalar()
    assert secret not in stored and secret_box.unseal(stored) == secret  # sealed at rest, usable for signing

    raw: list[bytes] = []
    original = webhooks._http().post

    def keep_raw(url, **kw):
        raw.append(kw["content"])
        return original(url, **kw)
    monkeypatch.setattr(webhooks._http(), "post", keep_raw)
    event_id = one_event(world.engine, created.json()["id"])
    assert outbox.run_once(world.engine) == 1
    (req,) = receiver.requests
    header, body = req["headers"]["Qoima-Signature"], raw[0]
    assert req["headers"]["Qoima-Event-Id"] == f"qoima-event-{event_id}"
    assert json.loads(body) == req["body"]
    for verify in (webhooks.verify_signature, _readme_verify()):
        assert verify(secret, header, body)
        assert not verify(secret, header, body.replace(b"shipped", b"returned"))  # tampered body
        assert not verify("whsec_someone-else", header, body)  # another key
        t_, v1 = header.split(",")
        old = int(time.time()) - 301
        replayed = webhooks.sign(secret, old, body)  # a genuine signature, but captured > 5 min ago
        assert not verify(secret, replayed, body)
        assert not verify(secret, f"t={int(t_[2:]) + 1},{v1}", body)  # the timestamp changed
    assert webhooks.verify_signature(secret, webhooks.sign(secret, int(time.time()) - 200, body), body)
    assert not webhooks.verify_signature(secret, "garbage", body)


def test_rotation_shows_a_new_secret_once_and_signs_with_it(world, receiver, monkeypatch, api):
    allow_local_webhooks(monkeypatch)
    seller = world.sellers["seller-a"]
    set_webhook(world.engine, seller, receiver.url)
    url = "/api/v1/sellers/seller-a/webhook-secret"
    assert api.post(url, headers=world.headers("seller_a")).status_code == 403
    assert api.post(url, headers=world.headers("worker")).status_code == 403
    assert api.post("/api/v1/sellers/nope/webhook-secret", headers=world.headers("admin")).status_code == 404
    first = api.post(url, headers=world.headers("manager")).json()["webhook_secret"]
    second = api.post(url, headers=world.headers("admin")).json()["webhook_secret"]
    assert first != second
    assert "webhook_secret" not in json.dumps(api.get("/api/v1/sellers", headers=world.headers("admin")).json())
    one_event(world.engine, seller)
    assert outbox.run_once(world.engine) == 1
    header = receiver.requests[0]["headers"]["Qoima-Signature"]
    body = json.dumps(receiver.requests[0]["body"], separators=(",", ":")).encode()
    assert webhooks.verify_signature(second, header, body) and not webhooks.verify_signature(first, header, body)


def test_a_seller_without_a_readable_secret_is_not_sent_unsigned(world, receiver, monkeypatch):
    allow_local_webhooks(monkeypatch)
    seller = world.sellers["seller-a"]
    set_webhook(world.engine, seller, receiver.url)
    with world.engine.begin() as conn:
        conn.execute(update(t.sellers).where(t.sellers.c.id == seller).values(webhook_secret=None))
    event_id = one_event(world.engine, seller)
    assert outbox.run_once(world.engine) == 1
    (row,) = outbox_rows(world.engine, id=event_id)
    assert row.status == "dead" and "no webhook secret: rotate it" in row.last_error
    assert receiver.requests == []


SSRF_TARGETS = [
    ("http://169.254.169.254/latest/meta-data/", "https"),  # plain http (and link-local)
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://127.0.0.1:8000/api/v1/outbox", "loopback"),
    ("https://localhost/", "loopback"),
    ("https://10.0.0.5/hook", "private"),
    ("https://[::1]/hook", "loopback"),
    ("https://[::ffff:169.254.169.254]/", "link-local"),
    ("file:///etc/passwd", "must be https"),
    ("gopher://example.com/", "must be https"),
    ("ftp://example.com/", "must be https"),
    ("https://user:pw@example.com/", "user name"),
    ("https:///nohost", "no host"),
]


@pytest.mark.parametrize("url,why", SSRF_TARGETS)
def test_a_manager_cannot_point_a_webhook_at_internal_targets(strict, world, api, url, why):
    r = api.post("/api/v1/sellers", json={"code": "evil", "name": "Evil", "webhook_url": url},
                 headers=world.headers("manager"))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == "webhook_url" and why in problem["detail"], problem
    with world.engine.connect() as conn:
        assert conn.execute(select(t.sellers.c.id).where(t.sellers.c.code == "evil")).first() is None


def test_the_operator_settings_allow_a_local_target(monkeypatch):
    monkeypatch.setenv("QOIMA_WEBHOOK_HTTP_HOSTS", "127.0.0.1")
    monkeypatch.delenv("QOIMA_WEBHOOK_ALLOW_PRIVATE", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(urlguard.UnsafeUrl, match="QOIMA_WEBHOOK_ALLOW_PRIVATE"):
            urlguard.check("http://127.0.0.1:9/hook")  # http allowed to that host, but it is loopback
        monkeypatch.setenv("QOIMA_WEBHOOK_ALLOW_PRIVATE", "true")
        get_settings.cache_clear()
        target = urlguard.check("http://127.0.0.1:9/hook?x=1")
        assert target.addresses == ("127.0.0.1",) and target.pinned_url() == "http://127.0.0.1:9/hook?x=1"
        with pytest.raises(urlguard.UnsafeUrl, match="must be https"):
            urlguard.check("http://192.168.1.1/hook")  # not on the http list
    finally:
        get_settings.cache_clear()


def test_a_target_that_turns_private_after_saving_is_refused_at_delivery(world, receiver, monkeypatch):
    """DNS rebinding: the name resolved to a public address when saved; at delivery it resolves to
    the metadata service. The delivery checks again and sends nothing."""
    allow_local_webhooks(monkeypatch)
    seller = world.sellers["seller-a"]
    set_webhook(world.engine, seller, "https://hooks.seller-a.example/qoima")
    real = socket.getaddrinfo

    def rebound(host, *args, **kw):
        if host == "hooks.seller-a.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]
        return real(host, *args, **kw)
    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    monkeypatch.setenv("QOIMA_WEBHOOK_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    event_id = one_event(world.engine, seller)
    assert outbox.run_once(world.engine) == 1
    (row,) = outbox_rows(world.engine, id=event_id)
    assert row.status == "dead" and "169.254.169.254" in row.last_error and "not delivered" in row.last_error


def test_an_allowed_local_target_answers_but_its_body_is_not_readable_in_the_outbox(world, receiver, monkeypatch,
                                                                                      api):
    allow_local_webhooks(monkeypatch)
    created = api.post("/api/v1/sellers", json={"code": "loc", "name": "Local", "webhook_url": receiver.url},
                       headers=world.headers("manager"))
    assert created.status_code == 201, created.text
    receiver.script = [400, 503]
    one_event(world.engine, created.json()["id"])
    one_event(world.engine, world.sellers["seller-a"])
    set_webhook(world.engine, world.sellers["seller-a"], receiver.url)
    outbox.run_once(world.engine)
    listed = api.get("/api/v1/outbox", headers=world.headers("admin"))
    assert listed.status_code == 200
    errors = [i["last_error"] for i in listed.json()["items"] if i["last_error"]]
    assert any("400 Bad Request" in e for e in errors), errors
    assert "bad payload" not in listed.text  # the receiver's body ('{"error": "bad payload"}') is not kept
    assert all(len(e) <= 200 for e in errors)


def test_the_admin_sellers_page_rotates_and_shows_the_secret_once(world, api):
    import re

    from qoima.platform.access import Principal  # noqa: F401 - the page checks the admin role itself
    page = api.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert api.post("/login", data={"email": "admin@qoima.local", "password": "password123", "csrf": token,
                                    "next": "/"}, follow_redirects=False).status_code == 303
    listing = api.get("/admin/sellers?lang=en").text
    assert 'action="/admin/sellers/seller-a/webhook-secret"' in listing and "whsec_" not in listing
    token = re.search(r'name="csrf" value="([^"]+)"', listing).group(1)
    assert api.post("/admin/sellers/seller-a/webhook-secret", data={}).status_code == 403  # CSRF
    r = api.post("/admin/sellers/seller-a/webhook-secret", data={"csrf": token})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = re.search(r"(whsec_[A-Za-z0-9_\-]+)", r.text).group(1)
    assert "shown only this once" in r.text or "только один раз" in r.text
    with world.engine.connect() as conn:
        stored = conn.execute(select(t.sellers.c.webhook_secret)
                              .where(t.sellers.c.id == world.sellers["seller-a"])).scalar()
    assert secret_box.unseal(stored) == secret
    assert "whsec_" not in api.get("/admin/sellers").text  # once
    assert "whsec_" not in r.cookies.get("qoima_session", "")
    assert api.post("/admin/sellers/nope/webhook-secret", data={"csrf": token}).status_code == 404


def _tls_server(tmp_path):
    """A local HTTPS endpoint with a certificate for 'localhost' (self-signed; the test client trusts it)."""
    import datetime as dt
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv, cert_path, hosts


def test_https_delivery_goes_to_the_checked_address_and_still_verifies_the_certificate(world, monkeypatch, tmp_path):
    """The request is pinned to the resolved, checked address; the Host header and the TLS server name stay
    the URL's, so the certificate is verified for the name (not for the bare IP)."""
    import ssl

    import httpx
    allow_local_webhooks(monkeypatch)
    srv, cert_path, hosts = _tls_server(tmp_path)
    try:
        trusted = httpx.Client(verify=ssl.create_default_context(cafile=str(cert_path)))
        monkeypatch.setattr(webhooks, "_http", lambda: trusted)
        port = srv.server_address[1]
        seller = world.sellers["seller-a"]
        set_webhook(world.engine, seller, f"https://localhost:{port}/hook")
        real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo",  # localhost as 127.0.0.1 only (not ::1, where nobody listens)
                            lambda host, *a, **kw: real("127.0.0.1" if host == "localhost" else host, *a, **kw))
        event_id = one_event(world.engine, seller)
        assert outbox.run_once(world.engine) == 1
        assert outbox_rows(world.engine, id=event_id)[0].status == "done"
        assert hosts == [f"localhost:{port}"]
    finally:
        srv.shutdown()
        srv.server_close()
