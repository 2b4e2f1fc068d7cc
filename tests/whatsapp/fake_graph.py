"""A fake Graph API on 127.0.0.1: messages and the Groups endpoints, over real HTTP.

It answers each request from a script (200, 429 with Retry-After, 5xx, an error
code, a hang past the client's timeout, or a dropped connection) and records
everything it received, so tests can count what reached "WhatsApp" per message.
A message is identified by the `biz_opaque_callback_data` the outbox puts in it
(its row id), else by its address.

"Accepted" means the platform took the message: a 200, and also a hang (the
answer comes too late, but the message went) and a drop (the connection closes
after the platform took it) — the cases a sender must never repeat blindly.

In a test: `FakeGraph().start()` serves from a thread. For a benchmark in its own
process: `python -m tests.whatsapp.fake_graph --port 8121` (stats at GET /_fake/stats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

OK = ("ok",)
BLOCK_FAILED = 139100


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float = 0.0
    outcome: str = ""
    query: str = ""

    @property
    def authorization(self) -> str:
        return self.headers.get("Authorization", "")

    @property
    def json(self) -> Any:
        return self.body

    @property
    def ref(self) -> str:
        body = self.body if isinstance(self.body, dict) else {}
        return str(
            body.get("biz_opaque_callback_data") or body.get("to") or body.get("recipient") or ""
        )


@dataclass
class Rule:
    matches: Callable[[Call], bool]
    behaviours: list[tuple]
    seen: threading.Event = field(default_factory=threading.Event)


def graph_error(code: int, message: str = "error") -> dict:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
        }
    }


class FakeGraph:
    def __init__(self, port: int = 0, *, wamid_prefix: str = "FAKE") -> None:
        # A process of its own (a benchmark) gives a prefix no earlier run used.
        self.wamid_prefix = wamid_prefix
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        # Answers to /messages, in order, before the default 200.
        self.replies: list[tuple] = []
        self.rules: list[Rule] = []
        # Every /messages request answers 429 until this time.time().
        self.throttled_until = 0.0
        self.throttle_retry_after = 1
        # Groups API state.
        self.join_requests: dict[str, list[dict]] = {}
        self.invite_link = "https://chat.whatsapp.com/FAKEVIPLINK"
        self.active_groups: list[dict] = []
        # (status, body) for every Groups API call, when set.
        self.fail_with: tuple[int, dict] | None = None
        # Join request ids the platform refuses in its answer (failed_join_requests).
        self.refuse_join_requests: set[str] = set()
        # Users the Block Users API refuses (as for someone who has not written for 24 h).
        self.refuse_block_users: set[str] = set()
        # The WABA's message templates, served in pages of `limit` with `after` cursors;
        # answers to GET message_templates, in order, before the pages.
        self.templates: list[dict] = []
        self.template_replies: list[tuple[int, dict, dict]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- Running -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGraph:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- Scripting -----------------------------------------------------------------

    def reply(self, status: int, body: dict, headers: dict | None = None) -> None:
        self.replies.append(("status", status, body, headers or {}))

    def error(
        self, code: int, status: int = 400, message: str = "error", retry_after: int | None = None
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.reply(status, graph_error(code, message), headers)

    def rate_limited(self, retry_after: int = 1) -> None:
        """One 429 with Retry-After."""
        self.error(130429, status=429, message="Rate limit hit", retry_after=retry_after)

    def rate_limit_for(self, seconds: float, retry_after: int = 1) -> None:
        """Every message for a while gets 429 with Retry-After."""
        self.throttled_until = time.time() + seconds
        self.throttle_retry_after = retry_after

    def hang(self, seconds: float) -> None:
        self.replies.append(("hang", seconds))

    def drop(self) -> None:
        self.replies.append(("drop",))

    def when(self, matches: Callable[[Call], bool], *behaviours: tuple) -> Rule:
        """Answer the matching messages with these behaviours in turn (then 200)."""
        rule = Rule(matches, list(behaviours))
        self.rules.append(rule)
        return rule

    # --- Reading -----------------------------------------------------------------------

    @property
    def requests(self) -> list[Call]:
        return self.message_calls()

    def message_calls(self) -> list[Call]:
        """Calls to `/messages` and to the Marketing Messages API's `/marketing_messages`."""
        with self.lock:
            return [c for c in self.calls if c.path.endswith("messages")]

    def marketing_calls(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path.endswith("/marketing_messages")]

    def calls_to(self, method: str, suffix: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]

    def received(self) -> Counter[str]:
        """Message ref → how many requests carried it."""
        return Counter(c.ref for c in self.message_calls())

    def accepted(self) -> Counter[str]:
        """Message ref → how many times the platform took it."""
        return Counter(c.ref for c in self.message_calls() if c.outcome == "accepted")

    def accepted_per_second(self) -> Counter[int]:
        return Counter(int(c.at) for c in self.message_calls() if c.outcome == "accepted")

    def stats(self) -> dict[str, Any]:
        calls = self.message_calls()
        return {
            "received": len(calls),
            "accepted": sum(1 for c in calls if c.outcome == "accepted"),
            "accepted_refs": len({c.ref for c in calls if c.outcome == "accepted"}),
            "twice": sorted(ref for ref, n in self.accepted().items() if n > 1),
            "per_second": {str(k): v for k, v in sorted(self.accepted_per_second().items())},
        }

    # --- Answering -----------------------------------------------------------------------

    def _behaviour_for(self, call: Call) -> tuple:
        with self.lock:
            for rule in self.rules:
                if rule.behaviours and rule.matches(call):
                    rule.seen.set()
                    return rule.behaviours.pop(0)
            if time.time() < self.throttled_until:
                return (
                    "status",
                    429,
                    graph_error(130429, "Rate limit hit"),
                    {"Retry-After": str(self.throttle_retry_after)},
                )
            if self.replies:
                return self.replies.pop(0)
        return OK

    def _answer_message(self, call: Call, n: int) -> tuple[int, dict, dict] | None:
        """(status, body, headers); None: the connection is dropped."""
        behaviour = self._behaviour_for(call)
        if behaviour[0] == "status":
            call.outcome = f"status {behaviour[1]}"
            return behaviour[1], behaviour[2], behaviour[3]
        call.outcome = "accepted"
        if behaviour[0] == "drop":
            return None
        if behaviour[0] == "hang":
            time.sleep(behaviour[1])
        to = call.body.get("to") if isinstance(call.body, dict) else None
        contact = {"input": to, "wa_id": to} if to else {"input": call.ref, "user_id": call.ref}
        return (
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [
                    {"id": f"wamid.{self.wamid_prefix}{n:04d}", "message_status": "accepted"}
                ],
            },
            {},
        )

    def _answer_groups(self, call: Call, n: int) -> tuple[int, dict, dict]:
        if self.fail_with:
            return self.fail_with[0], self.fail_with[1], {}
        parts = call.path.split("?")[0].strip("/").split("/")  # [version, node, edge]
        node, edge = parts[1], parts[2] if len(parts) > 2 else ""
        if edge == "message_templates" and call.method == "GET":
            return self._template_page(call)
        if edge == "groups" and call.method == "GET":
            return 200, {"data": self.active_groups}, {}
        if edge == "groups" and call.method == "POST":
            return 200, {"request_id": f"request-{n}"}, {}
        if edge == "invite_link":
            return 200, {"messaging_product": "whatsapp", "invite_link": self.invite_link}, {}
        if edge == "join_requests" and call.method == "GET":
            return 200, {"data": self.join_requests.get(node, [])}, {}
        if edge == "join_requests":
            asked = [str(i) for i in (call.body or {}).get("join_requests", [])]
            approve = call.method == "POST"
            done_key = "approved_join_requests" if approve else "rejected_join_requests"
            body: dict[str, Any] = {
                "messaging_product": "whatsapp",
                done_key: [i for i in asked if i not in self.refuse_join_requests],
            }
            refused = [i for i in asked if i in self.refuse_join_requests]
            if refused:
                body["failed_join_requests"] = [
                    {
                        "join_request_id": i,
                        "errors": [{"code": 131203, "title": "Join request not found"}],
                    }
                    for i in refused
                ]
            return 200, body, {}
        if edge == "participants":
            return 200, {"success": True}, {}
        if edge == "block_users":
            return self._block_users(call)
        return 404, graph_error(100, "unknown path"), {}

    def _block_users(self, call: Call) -> tuple[int, dict, dict]:
        """Meta's Block Users shapes: 200 with added / removed users; a refusal is a 400
        (error 139100) whose body still lists who failed and why."""
        users = [str(u.get("user")) for u in (call.body or {}).get("block_users", [])]
        key = "added_users" if call.method == "POST" else "removed_users"
        refused = [u for u in users if u in self.refuse_block_users and call.method == "POST"]
        lists: dict[str, Any] = {
            key: [{"input": u, "wa_id": u.lstrip("+")} for u in users if u not in refused]
        }
        if not refused:
            return 200, {"messaging_product": "whatsapp", "block_users": lists}, {}
        lists["failed_users"] = [
            {
                "input": u,
                "wa_id": u.lstrip("+"),
                "errors": [
                    {
                        "message": "Re-engagement required",
                        "code": 131047,
                        "error_data": {"details": "User has not messaged in the last 24 hours"},
                    }
                ],
            }
            for u in refused
        ]
        body = {
            "messaging_product": "whatsapp",
            "block_users": lists,
            **graph_error(BLOCK_FAILED, "(#139100) Failed to block/unblock users"),
        }
        return 400, body, {}

    def _template_page(self, call: Call) -> tuple[int, dict, dict]:
        with self.lock:
            if self.template_replies:
                return self.template_replies.pop(0)
        query = parse_qs(call.query)
        limit = int((query.get("limit") or ["25"])[0])
        start = int((query.get("after") or ["0"])[0] or 0)
        page = self.templates[start : start + limit]
        body: dict[str, Any] = {"data": page, "paging": {"cursors": {"before": str(start)}}}
        if start + limit < len(self.templates):
            after = str(start + limit)
            body["paging"]["cursors"]["after"] = after
            body["paging"]["next"] = f"{self.base_url}{call.path}?after={after}&limit={limit}"
        return 200, body, {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go as two writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold every answer back by ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: dict, headers: dict) -> None:
                raw = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.startswith("/_fake/"):
                    self._control()
                    return
                call = Call(
                    self.command,
                    self.path.split("?")[0],
                    json.loads(raw) if raw else None,
                    dict(self.headers),
                    at=time.time(),
                    query=self.path.partition("?")[2],
                )
                with fake.lock:
                    fake.calls.append(call)
                    n = len(fake.calls)
                if call.path.endswith("messages"):
                    answer = fake._answer_message(call, n)
                    if answer is None:
                        # The platform took it; the answer never comes.
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self._send(*answer)
                else:
                    self._send(*fake._answer_groups(call, n))

            def _control(self) -> None:
                if self.path.startswith("/_fake/stats"):
                    self._send(200, fake.stats(), {})
                elif self.path.startswith("/_fake/reset"):
                    with fake.lock:
                        fake.calls.clear()
                    self._send(200, {"reset": True}, {})
                else:
                    self._send(404, {}, {})

            do_GET = do_POST = do_DELETE = _handle

        return Handler


async def _serve_fast(port: int, wamid_prefix: str) -> None:
    """Only POST …/messages (200) and GET /_fake/stats: little CPU per request, for benchmarks."""
    accepted: Counter[str] = Counter()
    per_second: Counter[int] = Counter()

    def answer(status: str, data: bytes) -> bytes:
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        return f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, _, headers = head.partition(b"\r\n")
                path = request_line.split(b" ")[1]
                length = 0
                for line in headers.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                if path.startswith(b"/_fake/stats"):
                    data = json.dumps(
                        {
                            "received": sum(accepted.values()),
                            "accepted": sum(accepted.values()),
                            "accepted_refs": len(accepted),
                            "twice": sorted(ref for ref, n in accepted.items() if n > 1),
                            "per_second": {str(k): v for k, v in sorted(per_second.items())},
                        }
                    ).encode()
                    writer.write(answer("200 OK", data))
                elif path.endswith(b"/messages"):
                    message = json.loads(body)
                    ref = str(message.get("biz_opaque_callback_data") or message.get("to"))
                    accepted[ref] += 1
                    per_second[int(time.time())] += 1
                    n = sum(per_second.values())
                    data = json.dumps(
                        {
                            "messaging_product": "whatsapp",
                            "contacts": [{"input": message.get("to"), "wa_id": message.get("to")}],
                            "messages": [{"id": f"wamid.{wamid_prefix}{n:07d}"}],
                        }
                    ).encode()
                    writer.write(answer("200 OK", data))
                else:
                    writer.write(answer("404 Not Found", b"{}"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"fake Graph API (fast) on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--fast", action="store_true", help="only /messages and stats, for benchmarks"
    )
    args = parser.parse_args()
    prefix = f"FAKE{int(time.time())}."
    if args.fast:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_fast(args.port, prefix))
        return
    fake = FakeGraph(port=args.port, wamid_prefix=prefix)
    print(f"fake Graph API on {fake.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fake._server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
