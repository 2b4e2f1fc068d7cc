"""Where deliveries may go: no private, loopback or link-local address in production.

Checked when an endpoint is registered and again before every delivery (a name can come
to point elsewhere). `WEBHOOK_ALLOW_PRIVATE_URLS` (development, tests) lifts the check and
allows plain http.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeAddress(ValueError):
    pass


def check_endpoint_url(url: str) -> None:
    """UnsafeAddress unless `url` is one we may deliver to."""
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
    if allow_private:
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
