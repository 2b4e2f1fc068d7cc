"""`Authorization: Api-Key <key>`: how integrations authenticate."""

from datetime import timedelta
from typing import cast

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import ApiKey
from .scopes import DESCRIPTIONS

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
            # The library annotates its manager with the abstract base; ApiKey's returns ApiKey.
            api_key = cast(ApiKey, ApiKey.objects.get_from_key(key))
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
