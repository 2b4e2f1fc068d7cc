"""A fake Graph API on 127.0.0.1: records each request, answers from a script."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeGraph:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        # Each reply: (status, body dict) or ("sleep", seconds) to force a client timeout.
        self.replies: list[tuple] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeGraph":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.daemon_threads = True
        self._server.shutdown()
        self._server.server_close()

    def reply(self, status: int, body: dict) -> None:
        self.replies.append((status, body))

    def hang(self, seconds: float) -> None:
        self.replies.append(("sleep", seconds))

    def error(self, code: int, status: int = 400, message: str = "error") -> None:
        self.reply(
            status,
            {
                "error": {
                    "message": message,
                    "type": "OAuthException",
                    "code": code,
                    "error_data": {"messaging_product": "whatsapp", "details": message},
                    "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
                }
            },
        )

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
                )
                status, payload = (
                    fake.replies.pop(0) if fake.replies else (200, _accepted(len(fake.requests)))
                )
                if status == "sleep":
                    time.sleep(payload)
                    status, payload = 200, _accepted(len(fake.requests))
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        return Handler


def _accepted(n: int) -> dict:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "447911123456", "wa_id": "447911123456"}],
        "messages": [{"id": f"wamid.FAKE{n:04d}", "message_status": "accepted"}],
    }
