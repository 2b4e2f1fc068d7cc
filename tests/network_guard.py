"""A network call inside a database transaction is a bug: a rollback cannot unsend.

Installed for the whole suite (tests/conftest.py): every TCP connect or send, and
every httpx request, first checks that no database connection of this thread is
inside an `atomic()` block opened by the code under test (the test case's own
wrapping transaction does not count).
"""

import socket

import httpx
from django.db import connections


class NetworkInsideTransaction(AssertionError):
    pass


def open_transaction() -> str | None:
    """The alias of a connection of this thread inside a real atomic block, if any."""
    for connection in connections.all(initialized_only=True):
        if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
            return connection.alias
    return None


def check(what: str) -> None:
    alias = open_transaction()
    if alias is not None:
        raise NetworkInsideTransaction(
            f"{what} inside a transaction on database {alias!r}: queue an outbox row and "
            "deliver it after commit"
        )


_INET = (socket.AF_INET, socket.AF_INET6)


def _guard_socket(method_name: str):
    original = getattr(socket.socket, method_name)

    def guarded(sock, *args, **kwargs):
        if sock.family in _INET:
            check(f"socket.{method_name}")
        return original(sock, *args, **kwargs)

    return guarded


def refuse_network_inside_transactions(monkeypatch) -> None:
    for name in ("connect", "connect_ex", "send", "sendall", "sendto"):
        monkeypatch.setattr(socket.socket, name, _guard_socket(name))
    original = httpx.HTTPTransport.handle_request

    def handle_request(transport, request):
        check(f"HTTP {request.method} {request.url}")
        return original(transport, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
