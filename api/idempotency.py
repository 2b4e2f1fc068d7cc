"""`Idempotency-Key` on POSTs that record something.

The first response is stored against (owner, key); a retry with the same body
gets it back unchanged and records nothing, a different body gets 409. Keys
are scoped to the API key (or staff user) that sent them and kept for
`API_IDEMPOTENCY_TTL` (at least 24 hours).

The claim on a key is taken in the same transaction as the request's work, and
the answer is stored in it too: both commit together or neither does. A request
that fails in any way (an exception, a 5xx, a database that restarts under it, a
worker killed mid-request) leaves no claim behind, because its transaction rolls
back or dies with its connection; the retry runs as if it were the first. A
concurrent retry with the same key waits on the claim's unique index for the
first request to end (at most CLAIM_WAIT, then 409 `idempotency_busy`), and then
gets the first answer, or runs if the first rolled back. Only an answer the
client should see again is kept: a refusal (4xx) is, a failure (5xx) is not.

Why a second mechanism besides the ledger's own `idempotency_key`
(consent.services.record_consent): that one makes one *event* unique whoever
records it (a webhook delivered twice, a task run twice, an API call), for ever,
and answers with the state. This one replays one *HTTP answer* to the client that
sent the key, byte for byte, for any endpoint (contacts, groups, campaigns too), for
a limited time. Neither can stand in for the other.
"""

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.db import (
    DatabaseError,
    Error,
    IntegrityError,
    OperationalError,
    transaction,
)
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from core.inputs import storable_text

from . import sql
from .errors import Conflict
from .models import ApiKey, IdempotencyRecord

HEADER = "Idempotency-Key"
# How long a retry waits for a first request with its key that is still running
# (PostgreSQL's lock_timeout on the claim), well inside gunicorn's 30 s request timeout.
CLAIM_WAIT = timedelta(seconds=10)
# A committed claim without an answer was left by an earlier release of this module,
# which committed the claim before the work: it holds the key no longer than a request
# may run (gunicorn's timeout).
CLAIM_TIMEOUT = timedelta(seconds=30)
# PostgreSQL's SQLSTATE for lock_timeout expiring.
LOCK_NOT_AVAILABLE = "55P03"

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name=HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    type=str,
    description=(
        "Retry-safe key, e.g. a UUID: the same key with the same body returns the first "
        "response again and records nothing; with a different body, 409."
    ),
)


def _owner(request: Request) -> str:
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    return f"user:{request.user.pk}"


def _fingerprint(request: Request) -> str:
    content = json.dumps(
        [request.method, request.path, request.data], sort_keys=True, cls=JSONEncoder
    )
    return hashlib.sha256(content.encode()).hexdigest()


def _ttl() -> timedelta:
    return timedelta(seconds=settings.API_IDEMPOTENCY_TTL_SECONDS)


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a view's `post` (or a viewset action) that records something."""

    @functools.wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        # Stored as a digest: any header value works, whatever its length or characters.
        key = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        owner, fingerprint = _owner(request), _fingerprint(request)
        # One transaction for the claim, the work and the answer: a failure anywhere,
        # the loss of the database included, takes the claim with it.
        with transaction.atomic():
            record, claimed = _claim(owner=owner, key=key, request=request, fingerprint=fingerprint)
            if not claimed:
                return _replay(record, fingerprint)
            try:
                response = handler(view, request, *args, **kwargs)
            except Error:
                # The database failed or went away: everything rolls back, claim and all.
                raise
            except Exception as exc:
                # The answer a refusal (400, 409…) gets is the first response too.
                response = view.handle_exception(exc)
            if response.status_code >= 500:
                # Nothing is recorded and nothing kept: the client may retry.
                transaction.set_rollback(True)
            elif not _store(record, response):
                # The work stands (the client gets its answer), but cannot be replayed.
                IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response

    # A plain function attribute (read by the schema); functools.wraps' type declares none.
    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper


def _store(record: IdempotencyRecord, response: Response) -> bool:
    """Keep the answer for replays; False when it could not be kept."""
    # As JSON text with every non-ASCII character escaped, kept as one JSON string: an
    # answer that echoes a NUL (which JSONB refuses even escaped) or anything else
    # stores and replays exactly.
    try:
        body = json.dumps(response.data, cls=JSONEncoder, ensure_ascii=True)
        with transaction.atomic():
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                status_code=response.status_code, body=body
            )
    except (DatabaseError, TypeError, ValueError):
        return False
    return True


def _stored_body(record: IdempotencyRecord):
    # Records written before answers were kept as text hold the JSON value itself.
    return json.loads(record.body) if isinstance(record.body, str) else record.body


def _claim(
    *, owner: str, key: str, request: Request, fingerprint: str
) -> tuple[IdempotencyRecord, bool]:
    """(record, True) for a new claim of ours, (stored record, False) for an earlier answer.

    Called inside the request's transaction: the claim is only seen by others once
    it commits with its answer.
    """
    now = timezone.now()
    for _ in range(2):
        existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if existing is not None and (
            existing.created_at < now - _ttl()
            or (existing.status_code is None and existing.created_at < now - CLAIM_TIMEOUT)
        ):
            IdempotencyRecord.objects.filter(
                pk=existing.pk, status_code=existing.status_code
            ).delete()
            existing = None
        if existing is not None:
            return existing, False
        try:
            # A savepoint, so a lost race leaves the request's transaction usable.
            with transaction.atomic(), sql.waiting_at_most(CLAIM_WAIT):
                record = IdempotencyRecord.objects.create(
                    owner=owner,
                    key=key,
                    # Every request that reaches a view has a method.
                    method=cast(str, request.method),
                    path=storable_text(request.path)[:500],
                    fingerprint=fingerprint,
                )
            return record, True
        except IntegrityError:
            # A request with this key committed while we waited on it: read its answer.
            continue
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            break
    raise Conflict(
        "The first request with this Idempotency-Key is still being handled.",
        "idempotency_busy",
    )


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was used with a different request.", "idempotency_conflict"
        )
    if record.status_code is None:
        raise Conflict(
            "The first request with this Idempotency-Key is still being handled.",
            "idempotency_busy",
        )
    return Response(
        _stored_body(record), status=record.status_code, headers={"Idempotent-Replayed": "true"}
    )


def purge_idempotency_records() -> int:
    """Delete records past their retention; returns how many."""
    cutoff = timezone.now() - _ttl()
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
