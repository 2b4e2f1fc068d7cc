"""The WhatsApp channel's own records: raw inbound events, the outbox, service windows.

`whatsapp` knows no other app: contacts are referred to by id only.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookDelivery(models.Model):
    """A signed webhook body exactly as it arrived, stored before anything parses it.

    Bytes, not text: a body with a NUL, a lone surrogate or invalid UTF-8 is
    still kept, so a STOP inside it is never lost.
    """

    class State(models.TextChoices):
        STORED = "stored", "Stored, not yet split"
        SPLIT = "split", "Split into items"
        MALFORMED = "malformed", "Not readable as a webhook body"

    body = models.BinaryField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.STORED)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # Serves the sweep that splits deliveries whose request died after storing.
            models.Index(
                fields=["received_at"], name="delivery_unsplit_idx", condition=Q(state="stored")
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} at {self.received_at:%Y-%m-%d %H:%M:%S} ({self.state})"


class InboundEvent(models.Model):
    """One item of a webhook delivery, stored before anything is done with it."""

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        STATUS = "status", "Status"
        USER_PREFERENCE = "user_preference", "User preference"
        IDENTITY_UPDATE = "identity_update", "Identity update"
        GROUP_PARTICIPANTS = "group_participants", "Group participants"
        OTHER = "other", "Other (stored, ignored)"
        MALFORMED = "malformed", "Malformed body"

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    # messages[].id, (statuses[].id, status), or a digest of the item: Meta
    # delivers at least once and retries for days, so the database refuses a
    # second row for the same item.
    dedupe_key = models.CharField(max_length=400, unique=True)
    wamid = models.CharField("WhatsApp message id", max_length=256, blank=True)
    # A single-item update in Meta's own shape (object / entry / changes / value).
    payload = models.JSONField(null=True, blank=True)
    # The raw body, kept only when it could not be parsed as JSON.
    body = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    processed_at = models.DateTimeField(null=True, blank=True)
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.PROTECT, null=True, blank=True, related_name="items"
    )
    # When the sweep may try a failed item again (backoff); None: not scheduled.
    retry_at = models.DateTimeField(null=True, blank=True)
    # Set when a failed item may carry an opt-out (as handlers registered by
    # other apps judge it): such an item is listed for staff until processed.
    carries_opt_out = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # Serves the unprocessed opt-outs list and the dashboard count.
            models.Index(
                fields=["received_at"],
                name="inbound_failed_optout_idx",
                condition=Q(state="failed", carries_opt_out=True),
            ),
            # Serves `reprocess_webhooks` and the admin's "to look at" filter.
            models.Index(
                fields=["received_at"],
                name="inbound_unprocessed_idx",
                condition=Q(state__in=["received", "failed"]),
            ),
            # Serves admin search and lookups of one message's history.
            models.Index(fields=["wamid"], name="inbound_wamid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.wamid or self.dedupe_key[:40]} ({self.state})"


class OutboundMessage(models.Model):
    """Every message we send (or, with the console backend, would send): the outbox."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        BUTTONS = "buttons", "Reply buttons"
        TEMPLATE = "template", "Template"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        ACCEPTED = "accepted", "Accepted by WhatsApp"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wamid = models.CharField(
        "WhatsApp message id", max_length=256, null=True, blank=True, unique=True
    )
    to = models.CharField(max_length=128)
    contact_id = models.UUIDField(null=True, blank=True, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The exact JSON body for the Cloud API /messages endpoint.
    payload = models.JSONField()
    # The consent notices this message showed ("marketing/en/1"): a button
    # reply to it proves the wording the person saw.
    notice_refs = models.JSONField(default=list, blank=True)
    # Why it was sent ("asked on WhatsApp", "campaign:…"), for staff reading the outbox.
    reason = models.CharField(max_length=200, blank=True)
    backend = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to} ({self.status})"


class ServiceWindow(models.Model):
    """When a recipient (wa_id or business-scoped user id) last wrote to us.

    Free-form messages are allowed for 24 hours after it.
    """

    recipient = models.CharField(max_length=128, unique=True)
    last_inbound_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.recipient}: last inbound {self.last_inbound_at:%Y-%m-%d %H:%M}"
