"""What integrations are told: the changes (one ordered log, the feed), the endpoints that
want them, and each endpoint's deliveries with their log of attempts."""

import secrets
import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact


class ChangeType(models.TextChoices):
    CONSENT_CHANGED = "consent.changed", "Consent changed"
    CONTACT_CREATED = "contact.created", "Contact created"
    CONTACT_ERASED = "contact.erased", "Contact erased"
    IDENTITY_CHANGED = "identity.changed", "Identity changed"
    CAMPAIGN_FINISHED = "campaign.finished", "Campaign finished"


class Change(models.Model):
    """One thing integrations are told about, written in the transaction that caused it.

    The feed's order is (`txid`, `id`), read only below the visibility horizon
    (`integrations.feed`): a change committed late by a concurrent writer is never skipped.
    """

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=32, choices=ChangeType.choices)
    # Indexed by the (contact, sequence) constraint's index: a second would only cost writes.
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    # 1, 2, 3… per contact, so that a receiver can order and dedupe; null without a contact.
    sequence = models.PositiveIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The writing transaction's id on PostgreSQL (pg_current_xact_id()); 0 on SQLite,
    # whose writers are serialised, so that the id alone is commit order there.
    txid = models.BigIntegerField(editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "sequence"], name="integrations_change_sequence_per_contact"
            ),
        ]
        indexes = [
            # The feed: WHERE (txid, id) > cursor AND txid < horizon ORDER BY txid, id.
            models.Index(fields=["txid", "id"], name="integrations_change_feed"),
            # "Replay from time T" and the contact page's list.
            models.Index(fields=["created_at"], name="integrations_change_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"

    def payload(self) -> dict:
        """The object delivered to endpoints and returned by the feed (API.md)."""
        return payload(
            self.event_id, self.type, self.created_at, self.contact_id, self.sequence, self.data
        )


def payload(
    event_id: uuid.UUID,
    type: str,
    created_at: datetime,
    contact_id: uuid.UUID | None,
    sequence: int | None,
    data: dict,
) -> dict:
    return {
        "id": str(event_id),
        "type": type,
        "created_at": created_at.isoformat(),
        "contact": str(contact_id) if contact_id else None,
        "sequence": sequence,
        "data": data,
    }


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="The change types this endpoint wants.")
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    # Signs every delivery; shown once, when created or rotated.
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    # The secret before the last rotation: it signs too until `previous_secret_expires_at`.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set at the first failure after a success; an endpoint failing for long is disabled.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, now: datetime) -> list[str]:
        during_overlap = (
            self.previous_secret
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        )
        return [self.secret, self.previous_secret] if during_overlap else [self.secret]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    # Retried for the whole retry period without a 2xx: staff may resend it.
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One change owed to one endpoint: the outbox row, written with the change."""

    # Indexed by the (endpoint, change) constraint's index: a second would only cost writes.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="deliveries")
    # The change's, copied so that the order check reads one table.
    contact_id = models.UUIDField(null=True, blank=True)
    sequence = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker holds it until then; a worker that died mid-call loses it at that time.
    claimed_until = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "change"], name="integrations_delivery_once_per_endpoint"
            ),
        ]
        indexes = [
            # The order check ("an earlier change for this contact still owed?") and the sweep.
            models.Index(
                fields=["endpoint", "contact_id", "sequence"],
                name="integrations_delivery_owed",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["next_attempt_at"],
                name="integrations_delivery_due",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.change} → {self.endpoint}"


class DeliveryAttempt(models.Model):
    """The delivery log: what was sent, what came back, how long it took."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField(default=timezone.now, editable=False)
    request_headers = models.JSONField(default=dict)
    request_bytes = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error} in {self.duration_ms} ms"
