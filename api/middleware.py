"""Guards for /api/: size limits, and JSON instead of any HTML error page.

The size limits are gunicorn's (config/gunicorn.conf.py, which also writes gunicorn's
own refusals in this JSON shape); here they hold under any other server too.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import error_response

# gunicorn's own limits (config/gunicorn.conf.py).
MAX_URL_BYTES = 8190
MAX_HEADER_BYTES = 8190
MAX_HEADERS = 100

_DETAILS = {
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    500: "Server Error (500)",
}


def _is_api(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith("/api/docs/")


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _is_api(request.path):
            return self.get_response(request)
        too_large = _too_large(request)
        if too_large is not None:
            return too_large
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.API_MAX_BODY_BYTES
        if length > limit:
            return error_response(413, f"The request body is larger than {limit} bytes.")
        response = self.get_response(request)
        if response.status_code < 400 or _is_json(response):
            return response
        status_code = response.status_code
        data = getattr(response, "data", None)
        if isinstance(data, dict) and "errors" in data:
            # An API error the browsable renderer would have drawn as a page.
            replacement = JsonResponse(data, status=status_code)
        else:
            # Django's own pages (unknown URL, crash, CSRF) would be HTML.
            replacement = error_response(
                status_code, _DETAILS.get(status_code, response.reason_phrase)
            )
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


class UnstorableInput(SuspiciousOperation):
    """A request parameter holding a NUL: Django answers 400 (and logs it as suspicious)."""


class UnstorableInputMiddleware:
    """Outside /api/ and the webhook: a NUL in any query or form parameter is a 400.

    PostgreSQL refuses a NUL even inside a query, and the admin's own search, list
    filters and actions (Django's code, not ours) hand parameters straight to it: a
    500 on every changelist. The customer pages refuse them field by field too
    (core.inputs); this makes it hold for every page, present and future. The API has
    its own field-level answers in JSON (a NUL phone is a question there, not an
    error), and the webhook stores whatever Meta signs.
    """

    EXEMPT = ("/api/", "/webhooks/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(self.EXEMPT):
            parameters = [request.GET]
            if request.method == "POST":
                parameters.append(request.POST)
            for given in parameters:
                if any(
                    "\x00" in key or any("\x00" in v for v in values)
                    for key, values in given.lists()
                ):
                    raise UnstorableInput("A request parameter holds a NUL character.")
        return self.get_response(request)


def _too_large(request: HttpRequest) -> HttpResponse | None:
    meta = request.META
    url = len(meta.get("PATH_INFO", "")) + len(meta.get("QUERY_STRING", ""))
    if url > MAX_URL_BYTES:
        return error_response(
            414, f"The URL is longer than {MAX_URL_BYTES} bytes.", code="uri_too_long"
        )
    headers = [value for key, value in meta.items() if key.startswith("HTTP_")]
    if len(headers) > MAX_HEADERS or any(len(str(v)) > MAX_HEADER_BYTES for v in headers):
        return error_response(
            431,
            f"At most {MAX_HEADERS} headers of at most {MAX_HEADER_BYTES} bytes each.",
            code="request_header_fields_too_large",
        )
    return None


def _is_json(response: HttpResponse) -> bool:
    return "json" in response.get("Content-Type", "")
