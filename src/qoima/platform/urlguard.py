"""Where Qoima may send a webhook (SSRF guard), checked when a URL is saved and again
before every delivery (the name may resolve elsewhere by then: DNS rebinding).

- the scheme is https, or http to a host on QOIMA_WEBHOOK_HTTP_HOSTS; `file:`,
  `gopher:` and every other scheme are refused;
- the host is resolved and every address it resolves to must be public: private
  (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local (169.254/16, the
  cloud metadata service, fe80::/10), shared (100.64/10), multicast, reserved and
  unspecified addresses are refused, IPv4-mapped IPv6 included, unless
  QOIMA_WEBHOOK_ALLOW_PRIVATE=true;
- the delivery connects to an address that was checked (`Target.pinned_url`), with
  the original Host header and TLS server name, so no second lookup can swap it.

Hand-written on the standard library (`ipaddress`, `socket.getaddrinfo`): the check
is small and every step of it must be visible here."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from qoima.platform.errors import ValidationError
from qoima.platform.settings import Settings, get_settings

MAX_URL = 500  # sellers.webhook_url


class UnsafeUrl(ValidationError):
    """The URL is not a place Qoima sends webhooks to."""


class Unresolvable(UnsafeUrl):
    """The host did not resolve (possibly for a moment: a delivery retries it)."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    addresses: tuple[str, ...]

    def pinned_url(self) -> str:
        """The URL with its host replaced by the first checked address (Host header and SNI keep the name)."""
        parts = urlsplit(self.url)
        ip = ipaddress.ip_address(self.addresses[0])
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        port = urlsplit(self.url).port
        return f"{self.host}:{port}" if port else self.host


def http_hosts(settings: Settings) -> set[str]:
    return {h.strip().lower() for h in settings.webhook_http_hosts.split(",") if h.strip()}


def _refuse(message: str, cls=UnsafeUrl, **params) -> None:
    raise cls(message, field="webhook_url", code="webhooks.unsafe_url", **params)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check(url: str, settings: Settings | None = None) -> Target:
    """The URL's checked target, or UnsafeUrl (a ValidationError naming `webhook_url`) saying why not."""
    settings = settings or get_settings()
    if len(url) > MAX_URL:
        _refuse("the webhook URL is longer than %(max)s characters", max=MAX_URL)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        _refuse("the webhook URL is not a valid URL: %(why)s", why=str(exc))
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("https", "http"):
        _refuse("the webhook URL must be https (got '%(scheme)s:')", scheme=scheme or "no scheme")
    if not host:
        _refuse("the webhook URL has no host")
    if parts.username or parts.password:
        _refuse("the webhook URL must not carry a user name or password")
    if scheme == "http" and host not in http_hosts(settings):
        _refuse("the webhook URL must be https; plain http is allowed only to the hosts in "
                "QOIMA_WEBHOOK_HTTP_HOSTS, and '%(host)s' is not one", host=host)
    try:
        infos = socket.getaddrinfo(host, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        _refuse("the webhook host '%(host)s' does not resolve: %(why)s", Unresolvable, host=host, why=str(exc))
    addresses = tuple(dict.fromkeys(info[4][0].split("%", 1)[0] for info in infos))
    if not addresses:
        _refuse("the webhook host '%(host)s' does not resolve", Unresolvable, host=host)
    if not settings.webhook_allow_private:
        for address in addresses:
            if not _is_public(ipaddress.ip_address(address)):
                _refuse("the webhook host '%(host)s' resolves to %(address)s, a private, loopback or link-local "
                        "address (allowed only with QOIMA_WEBHOOK_ALLOW_PRIVATE=true)", host=host, address=str(address))
    return Target(url.strip(), host, addresses)
