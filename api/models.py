from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey


class ApiKey(AbstractAPIKey):
    """An integration's key: only a hash is stored; revoking it cannot be undone."""

    # A fixed text (the form lists the scopes): a new scope needs no migration.
    scopes = models.JSONField(
        default=list, blank=True, help_text="What the key may do (api.scopes.SCOPES)."
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an Idempotency-Key, replayed on a retry."""

    # "key:<api key id>" or "user:<user id>": a key is only ever seen by its owner.
    owner = models.CharField(max_length=160)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    # Null while the first request is still being handled.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_unique_owner_key"),
        ]
        indexes = [
            # Serves the purge of records past their retention.
            models.Index(fields=["created_at"], name="idempotency_created_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
