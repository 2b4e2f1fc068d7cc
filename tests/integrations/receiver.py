"""A real HTTP receiver on 127.0.0.1, in a thread: it answers 2xx, 500, too late, or hangs
up, as a test tells it, and keeps every request it got."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "verify_webhook", Path(__file__).resolve().parents[2] / "scripts" / "verify_webhook.py"
)
assert _spec and _spec.loader
verify_webhook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verify_webhook)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    # None while it is being answered (or when the sender gave up waiting).
    answered: int | None = None

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.mode = "ok"  # ok | fail | slow | close
        self.slow_seconds = 3.0
        # Event ids to hang on (once each) for `hang_seconds`, as a receiver stuck mid-request.
        self.hang_on: set[str] = set()
        self.hang_seconds = 20.0
        self.hung = threading.Event()
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode = receiver.mode
                if mode == "close":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                got = Received(dict(self.headers.items()), body)
                receiver.received.append(got)
                if got.event["id"] in receiver.hang_on:
                    receiver.hang_on.discard(got.event["id"])
                    receiver.hung.set()
                    time.sleep(receiver.hang_seconds)
                    return
                if mode == "slow":
                    time.sleep(receiver.slow_seconds)
                    return
                got.answered = 500 if mode == "fail" else 200
                self.send_response(got.answered)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def in_order_per_contact(self, owed: dict[str, list[int]]) -> bool:
        """No change of a contact arrived before every earlier one it was owed had (repeats,
        at least once, aside). `owed`: the sequences owed per contact."""
        arrived: dict[str, set[int]] = defaultdict(set)
        for got in self.received:
            contact, sequence = got.event["contact"], got.event["sequence"]
            if contact is None or sequence in arrived[contact]:
                continue
            if any(
                earlier not in arrived[contact] for earlier in owed[contact] if earlier < sequence
            ):
                return False
            arrived[contact].add(sequence)
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/consent"

    def delivered(self) -> list[Received]:
        """What it accepted (answered 2xx)."""
        return [got for got in self.received if got.answered == 200]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
