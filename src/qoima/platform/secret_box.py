"""Secrets that Qoima must read back (the per-seller webhook signing keys), sealed at rest.

A webhook secret has to be usable for signing, so a one-way hash is not enough; it
is stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`)
under a key derived from QOIMA_SECRET_KEY. A database dump or backup alone does
not reveal the keys; the plain secret is shown once, when it is created or rotated.
Changing QOIMA_SECRET_KEY makes the sealed secrets unreadable: deliveries then
fail with a message asking to rotate the seller's secret."""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken

from qoima.platform.settings import get_settings

PREFIX = "fernet1:"


class SecretUnreadable(Exception):
    """The sealed secret was not sealed with this QOIMA_SECRET_KEY."""


@functools.lru_cache(maxsize=4)
def _fernet(app_secret: str) -> Fernet:
    key = hashlib.sha256(b"qoima sealed secrets\x00" + app_secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def new_webhook_secret() -> str:
    """A fresh signing secret, as the seller will see it once."""
    return "whsec_" + secrets.token_urlsafe(32)


def seal(plain: str) -> str:
    return PREFIX + _fernet(get_settings().resolved_secret()).encrypt(plain.encode()).decode()


def unseal(sealed: str) -> str:
    if not sealed.startswith(PREFIX):
        raise SecretUnreadable("not a sealed secret")
    try:
        return _fernet(get_settings().resolved_secret()).decrypt(sealed[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("sealed with another QOIMA_SECRET_KEY") from None
