"""`Authorization: Api-Key <key>`: how integrations authenticate."""

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import ApiKey
from .scopes import DESCRIPTIONS
from .sql import key_standing

KEYWORD = "Api-Key"
# Recording every use would add a write to every request; once a minute is enough
# to tell a live key from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, key = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("No API key given after 'Api-Key'.")
        if "\x00" in key or len(key) > 200:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        try:
            api_key = _usable_key(key)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        self._note_use(api_key)
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD

    @staticmethod
    def _note_use(api_key: ApiKey) -> None:
        now = timezone.now()
        if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
            return
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
        _remember_use(api_key.pk, now)


# A key is found and checked against its hash (an ORM read, a hasher) once per process;
# after that each request reads only what can change, by primary key in one bare
# statement: revoked, expiry, scopes. A key revoked (in any process, by any means,
# `update()` included) is refused at its next request, everywhere.
_verified: dict[bytes, ApiKey] = {}
_VERIFIED_MAX = 1000


def _usable_key(key: str) -> ApiKey:
    """The unrevoked key `key` is, as it stands now; DoesNotExist if none."""
    digest = hashlib.sha256(key.encode()).digest()
    known = _verified.get(digest)
    if known is None:
        # The library annotates its manager with the abstract base; ApiKey's returns ApiKey.
        found = cast(ApiKey, ApiKey.objects.get_from_key(key))
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[digest] = found
        return copy.copy(found)
    row = key_standing(known.pk)
    if row is None or row[0]:
        _verified.pop(digest, None)
        raise ApiKey.DoesNotExist("Key is revoked.")
    revoked, expiry_date, scopes = row
    current = copy.copy(known)
    current.scopes = json.loads(scopes) if isinstance(scopes, str | bytes) else scopes
    current.expiry_date = _aware(expiry_date)
    return current


def _remember_use(pk: str, when: datetime) -> None:
    """This process's copy knows the use was noted: the next one within a minute is not."""
    for known in list(_verified.values()):
        if known.pk == pk:
            known.last_used_at = when


def _aware(value: Any) -> datetime | None:
    # SQLite's raw datetimes are naive UTC (or text).
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        return value.replace(tzinfo=UTC)
    return value


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; create a key with `manage.py create_api_key` or "
            "in the admin. Scopes: "
            + "; ".join(f"`{scope}`: {what}" for scope, what in DESCRIPTIONS.items())
            + ". Staff signed in to the admin (the session cookie) hold exactly their admin "
            "role's permissions.",
        }
