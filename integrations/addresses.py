"""Where deliveries may go: no private, loopback or link-local address in production.

Checked when an endpoint is registered, before every delivery, and at the connection
itself: a name that resolves to a public address when checked and to a private one a moment
later (DNS rebinding) is refused where the socket is opened, and the socket goes to the
address that was checked. `WEBHOOK_ALLOW_PRIVATE_URLS` (development, tests) lifts the
checks and allows plain http.
"""

import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore
from django.conf import settings


class UnsafeAddress(ValueError):
    pass


def check_endpoint_url(url: str, *, resolving: bool = True) -> None:
    """UnsafeAddress unless `url` is one we may deliver to. Without `resolving`, its form
    only: a delivery leaves the addresses to `CheckedConnections`, where the socket opens
    (a name resolved here could answer differently there, and a kept connection needs no
    lookup per request)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeAddress("not a URL") from None
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise UnsafeAddress("the URL must use https")
    if not parts.hostname:
        raise UnsafeAddress("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeAddress("credentials do not belong in the URL")
    if allow_private or not resolving:
        return
    for address in resolve(parts.hostname, port or 443):
        if not is_public(address):
            raise UnsafeAddress(f"{parts.hostname} is a private, loopback or link-local address")


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeAddress(f"{host} does not resolve") from None
    return [str(info[4][0]) for info in infos]


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class CheckedConnections(httpcore.SyncBackend):
    """Opens a delivery's socket only to a public address, resolved once, here."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
            try:
                addresses = resolve(host, port)
            except UnsafeAddress as refused:
                raise httpcore.ConnectError(str(refused)) from None
            if not addresses or not all(is_public(address) for address in addresses):
                raise httpcore.ConnectError(
                    f"refused: {host} is a private, loopback or link-local address"
                )
            # TLS still names `host` (SNI and the certificate check use the URL's name).
            host = addresses[0]
        return super().connect_tcp(host, port, timeout, local_address, socket_options)
