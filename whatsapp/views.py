"""The WhatsApp Cloud API webhook: verify, store, enqueue. Nothing else happens here."""

import hashlib
import hmac

from csp.decorators import csp_exempt
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .services import store_delivery
from .tasks import process_inbound_soon


# Meta's servers read the answer, never a browser: no CSRF token, no CSP to build.
@csrf_exempt
@csp_exempt()
@csp_exempt(REPORT_ONLY=True)
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _handshake(request)
    return _receive(request)


def _handshake(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("hub.verify_token", "")
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if (
        request.GET.get("hub.mode") == "subscribe"
        and expected
        and constant_time_compare(token, expected)
    ):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    return HttpResponse("forbidden", status=403, content_type="text/plain")


SIGNATURE_HEADER = "X-Hub-Signature-256"


def _signature_is_valid(body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 of the raw bytes with the app secret, compared in constant time."""
    secret = settings.WHATSAPP_APP_SECRET
    if not header or not header.startswith("sha256=") or not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = header.removeprefix("sha256=").strip().lower()
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _receive(request: HttpRequest) -> HttpResponse:
    limit = settings.WHATSAPP_WEBHOOK_MAX_BODY
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return HttpResponse("payload too large", status=413, content_type="text/plain")
    try:
        body = request.body
    except RequestDataTooBig:
        return HttpResponse("payload too large", status=413, content_type="text/plain")
    if len(body) > limit:
        return HttpResponse("payload too large", status=413, content_type="text/plain")
    if not _signature_is_valid(body, request.headers.get(SIGNATURE_HEADER)):
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    stored = store_delivery(body=body)
    if stored.new_ids:
        ids = stored.new_ids
        transaction.on_commit(lambda: process_inbound_soon(ids))
    # 200 even for a body we cannot read: it is kept and listed for staff, and
    # an error would only make Meta send the same bytes again for days.
    return HttpResponse("ok", content_type="text/plain")
