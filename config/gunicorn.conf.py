"""gunicorn settings for production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Anything else (bind, workers, threads) may be given on the command line or through
gunicorn's environment variables (`GUNICORN_CMD_ARGS`, `WEB_CONCURRENCY`, `PORT`).

A request over these limits is answered by gunicorn itself, before Django sees it.
Django answers everything within them (api/middleware.py holds /api/ to the same
limits, for any other server), and gunicorn's own answers are written in the API's
JSON error shape instead of its HTML page (`post_worker_init` below).

The limits stay at gunicorn's largest finite values rather than 0 ("unlimited"): the
request line and headers are buffered with a copy per read, so their cost grows with
the square of their size. Measured with 0 on the 2-core dev box: a 4 MB request line
held a worker for 11 s, a 16 MB one until the worker timeout killed it.
"""

import json

from gunicorn import util

# gunicorn's maxima: the request line cannot be set above 8,190 bytes except to 0.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

_CODES = {
    400: "bad_request",
    403: "permission_denied",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "error",
    501: "not_implemented",
}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, in the API's JSON error shape (api.errors) instead of HTML."""
    body = json.dumps(
        {
            "type": "server_error" if status_int >= 500 else "client_error",
            "errors": [
                {
                    "code": _CODES.get(status_int, "error"),
                    "detail": mesg or reason,
                    "attr": None,
                }
            ],
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def post_worker_init(worker) -> None:
    # Workers write gunicorn's own error answers (414, 431, a malformed request line).
    util.write_error = write_json_error
