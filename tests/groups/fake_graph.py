"""A fake Graph API on 127.0.0.1: the Groups endpoints and /messages, recording every call."""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    body: Any
    authorization: str


@dataclass
class FakeGraph:
    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    # group id → pending join requests as the platform lists them
    join_requests: dict[str, list[dict]] = field(default_factory=dict)
    invite_link: str = "https://chat.whatsapp.com/FAKEVIPLINK"
    fail_with: tuple[int, dict] | None = None
    # what GET /{phone_number_id}/groups lists
    active_groups: list[dict] = field(default_factory=list)

    def calls_to(self, method: str, suffix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]


def start(graph: FakeGraph) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _answer(self, status: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            graph.calls.append(
                Call(
                    self.command,
                    path,
                    json.loads(raw) if raw else None,
                    self.headers.get("Authorization", ""),
                )
            )
            if graph.fail_with:
                self._answer(*graph.fail_with)
                return
            parts = path.strip("/").split("/")  # [version, node, edge]
            node, edge = parts[1], parts[2] if len(parts) > 2 else ""
            if edge == "messages":
                self._answer(200, {"messages": [{"id": f"wamid.fake.{len(graph.calls)}"}]})
            elif edge == "groups" and self.command == "GET":
                self._answer(200, {"data": graph.active_groups})
            elif edge == "groups" and self.command == "POST":
                self._answer(200, {"request_id": f"request-{len(graph.calls)}"})
            elif edge == "invite_link":
                self._answer(
                    200, {"messaging_product": "whatsapp", "invite_link": graph.invite_link}
                )
            elif edge == "join_requests" and self.command == "GET":
                self._answer(200, {"data": graph.join_requests.get(node, [])})
            elif edge in ("join_requests", "participants"):
                self._answer(200, {"success": True})
            else:
                self._answer(404, {"error": {"message": "unknown path", "code": 100}})

        do_GET = do_POST = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    graph.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server
