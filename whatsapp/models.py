"""The WhatsApp channel's own records: raw inbound events, the outbox, service windows.

`whatsapp` knows no other app: contacts are referred to by id only.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.dates import moment


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
        return f"delivery {self.pk} at {moment(self.received_at)} ({self.state})"


class InboundEvent(models.Model):
    """One item of a webhook delivery, stored before anything is done with it."""

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        STATUS = "status", "Status"
        USER_PREFERENCE = "user_preference", "User preference"
        IDENTITY_UPDATE = "identity_update", "Identity update"
        GROUP_PARTICIPANTS = "group_participants", "Group participants"
        GROUP_LIFECYCLE = "group_lifecycle", "Group created or deleted"
        TEMPLATE_UPDATE = "template_update", "Template status, quality or category"
        NUMBER_UPDATE = "number_update", "Business number quality or messaging limit"
        OTHER = "other", "Other (stored, ignored)"
        MALFORMED = "malformed", "Malformed body"

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        # Staff read a failed item and decided what it said (`settlement`): it holds
        # nothing any more, and nothing processes it again.
        SETTLED = "settled", "Settled by staff"

    class Settlement(models.TextChoices):
        OPT_OUT_RECORDED = "opt_out_recorded", "Opt-out recorded"
        NO_OPT_OUT = "no_opt_out", "Looked at: no opt-out in it"

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
    # Who it came from, filled when it is stored: the wa_id (digits), and the
    # business-scoped user id when the item names one. Before a message leaves the
    # outbox, what is unprocessed from its recipient is processed first (or holds it).
    # A malformed body keeps here every phone-like digit run and user id in its bytes.
    sender = models.TextField(blank=True, default="")
    sender_user_id = models.CharField(max_length=128, blank=True, default="")
    # Staff's decision on a failed item, after reading it (`whatsapp.settlement`), also
    # in the staff audit. Defaults in the database too: the bulk INSERTs of `services`
    # name only the columns an arriving item has.
    settlement = models.CharField(
        max_length=24, choices=Settlement.choices, blank=True, default="", db_default=""
    )
    settlement_reason = models.TextField(blank=True, default="", db_default="")
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        permissions = [
            ("settle_inboundevent", "Can settle a failed webhook item after reading it"),
        ]
        constraints = [
            # A settled item names who decided, when, what and why; nothing else is settled.
            models.CheckConstraint(
                name="inbound_settled_with_its_decision",
                condition=(
                    Q(state="settled")
                    & ~Q(settlement="")
                    & ~Q(settlement_reason="")
                    & Q(settled_by__isnull=False, settled_at__isnull=False)
                )
                | (~Q(state="settled") & Q(settlement="")),
            ),
        ]
        indexes = [
            # Serve the outbox's look-up, before each message, of what is unprocessed
            # from its recipient (by either id); empty when everything is processed.
            models.Index(
                fields=["sender"],
                name="inbound_unprocessed_sender_idx",
                condition=Q(state__in=["received", "failed"]),
            ),
            models.Index(
                fields=["sender_user_id"],
                name="inbound_unprocessed_user_idx",
                condition=Q(state__in=["received", "failed"]),
            ),
            # Items stored and waiting, oldest first: the coalesced webhook task and the sweep.
            models.Index(
                fields=["received_at"],
                name="inbound_received_idx",
                condition=Q(state="received"),
            ),
            # Unreadable bodies not processed (a handful at most), searched by their ids.
            models.Index(
                fields=["received_at"],
                name="inbound_malformed_open_idx",
                condition=Q(kind="malformed", state__in=["received", "failed"]),
            ),
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
    """The outbox: every message and Groups API call we make, one row each.

    The row is written in the transaction that decides to send; a task delivers
    it after commit (`whatsapp.outbox`), so a rollback never leaves a message
    sent. With the console backend the row is the whole delivery.
    """

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        BUTTONS = "buttons", "Reply buttons"
        TEMPLATE = "template", "Template"
        JOIN_APPROVE = "join_approve", "Approve group join requests"
        JOIN_REJECT = "join_reject", "Reject group join requests"
        REMOVE_PARTICIPANTS = "remove_participants", "Remove group participants"
        # POST / DELETE /<PHONE_NUMBER_ID>/block_users: the platform's own block.
        BLOCK_USERS = "block_users", "Block on WhatsApp"
        UNBLOCK_USERS = "unblock_users", "Unblock on WhatsApp"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        # Claimed by a worker that is calling the Graph API right now.
        SENDING = "sending", "Sending"
        ACCEPTED = "accepted", "Accepted by WhatsApp"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (not allowed at send time)"
        # The worker stopped mid-call (killed, timed out, connection dropped): it
        # may have been sent. Never sent again automatically; staff decide.
        UNKNOWN = "unknown", "Unknown: may have been sent"

    class Resolution(models.TextChoices):
        MARKED_SENT = "marked_sent", "Marked sent by staff"
        SENT_AGAIN = "sent_again", "Sent again by staff"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wamid = models.CharField(
        "WhatsApp message id", max_length=256, null=True, blank=True, unique=True
    )
    # The address (digits for `to`, a business-scoped id for `recipient`) or, for a
    # Groups API call, the group id.
    to = models.CharField(max_length=128)
    contact_id = models.UUIDField(null=True, blank=True, db_index=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    # The exact JSON body for the Cloud API endpoint of `kind`.
    payload = models.JSONField()
    # The approved template sent instead when the platform answers 131047
    # (outside the 24-hour window).
    fallback_payload = models.JSONField(null=True, blank=True)
    # The consent notices this message showed ("marketing/en/1"): a button
    # reply to it proves the wording the person saw.
    notice_refs = models.JSONField(default=list, blank=True)
    # Why it was sent ("asked on WhatsApp", "campaign:…"), for staff reading the outbox.
    reason = models.CharField(max_length=200, blank=True)
    # Who asked for it ("campaigns.message:42"): handlers of "outbound_result" find
    # their row by it, and a second enqueue of the same decision adds nothing.
    origin = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # The consent purpose checked again just before sending ("" for replies the
    # person asked for, which need none).
    purpose = models.CharField(max_length=16, blank=True)
    backend = models.CharField(max_length=16)
    # The business number it is sent from: throughput is counted per number.
    phone_number_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    skip_reason = models.CharField(max_length=32, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=500, blank=True)
    # What the platform answered a Groups API call (approved / failed join requests).
    result = models.JSONField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Not before: a retry after a rate limit, or 24 h after a per-user marketing limit.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # A result handler of another app raised; the sweep dispatches the result again.
    handler_error = models.TextField(blank=True)
    # Set while a queued row is parked (never claimed, whatever its time): "campaign" (its
    # campaign is paused) or "template:<name>:<language>" (the template is not approved).
    parked_by = models.CharField(max_length=600, blank=True, default="", db_default="")
    # Staff's decision on an `unknown` message, also in the staff audit (AuditEntry).
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("resolve_outboundmessage", "Can mark unknown messages sent or send again")]
        indexes = [
            # Serves the sweep: queued rows whose task never came.
            models.Index(
                fields=["next_attempt_at"],
                name="outbound_queued_idx",
                condition=Q(status="queued"),
            ),
            # Serves the sweep: rows left `sending` by a worker that died.
            models.Index(
                fields=["claimed_at"],
                name="outbound_sending_idx",
                condition=Q(status="sending"),
            ),
            # Serves un-parking: a campaign resumed, a template approved again.
            models.Index(
                fields=["parked_by"],
                name="outbound_parked_idx",
                condition=Q(status="queued") & ~Q(parked_by=""),
            ),
            # Serves the staff list of messages whose fate is unknown.
            models.Index(
                fields=["created_at"],
                name="outbound_unknown_idx",
                condition=Q(status="unknown"),
            ),
            # Serves the sweep: results whose handlers must run again.
            models.Index(
                fields=["created_at"],
                name="outbound_handler_error_idx",
                condition=~Q(handler_error=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to} ({self.status})"


class SendingNumber(models.Model):
    """A business phone number we send from, with its throughput on the platform.

    Meta starts a number at 80 messages per second and raises eligible numbers to
    1,000; set the figure the platform granted. Numbers without a row use
    WHATSAPP_MESSAGES_PER_SECOND.
    """

    phone_number_id = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True)
    brand = models.CharField(max_length=100, blank=True, help_text="The brand it speaks for.")
    waba_id = models.CharField(
        "WhatsApp Business Account", max_length=64, blank=True, help_text="Its templates' WABA."
    )
    display_phone_number = models.CharField(max_length=32, blank=True)
    # As the platform reports them (`phone_number_quality_update`): its last event
    # (FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE, THROUGHPUT_UPGRADE, ONBOARDING) and its limit.
    quality = models.CharField(max_length=32, blank=True)
    messaging_limit_tier = models.CharField(max_length=32, blank=True)
    platform_updated_at = models.DateTimeField(null=True, blank=True)
    marketing_messages_api = models.BooleanField(
        "send marketing through the Marketing Messages API",
        default=False,
        help_text="Marketing templates from this number go to POST /<id>/marketing_messages "
        "(with WHATSAPP_MARKETING_TTL_SECONDS); everything else to /messages.",
    )
    messages_per_second = models.PositiveIntegerField(
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Across all workers (1 to 1,000; the platform's default is 80).",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="sending_number_rate_1_to_1000",
                condition=Q(messages_per_second__gte=1, messages_per_second__lte=1000),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label or self.phone_number_id}: {self.messages_per_second}/s"

    def clean(self) -> None:
        # Webhooks name a number by its digits only.
        self.display_phone_number = "".join(c for c in self.display_phone_number if c.isdigit())


class ServiceWindow(models.Model):
    """When a recipient (wa_id or business-scoped user id) last wrote to us.

    Free-form messages are allowed for 24 hours after it.
    """

    recipient = models.CharField(max_length=128, unique=True)
    last_inbound_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.recipient}: last inbound {moment(self.last_inbound_at)}"


class WhatsAppTemplate(models.Model):
    """A message template as the platform holds it, per (WABA, name, language).

    Filled by `sync_templates` (the Graph API's list) and by the template webhooks;
    the category is the platform's and can change, so every change is kept
    (`TemplateChange`) and the send-time gate reads the current one.
    """

    class Category(models.TextChoices):
        MARKETING = "MARKETING", "Marketing"
        UTILITY = "UTILITY", "Utility"
        AUTHENTICATION = "AUTHENTICATION", "Authentication"

    APPROVED = "APPROVED"

    waba_id = models.CharField("WhatsApp Business Account", max_length=64)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    template_id = models.CharField("platform id", max_length=64, blank=True)
    # Free text, upper case as the platform sends it: new values must never fail a webhook.
    category = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=32, blank=True)
    quality = models.CharField(max_length=32, blank=True)
    # An impending re-categorisation (`template_category_update` with correct_category).
    upcoming_category = models.CharField(max_length=32, blank=True)
    upcoming_category_at = models.DateTimeField(null=True, blank=True)
    rejected_reason = models.CharField(max_length=200, blank=True)
    components = models.JSONField(default=list, blank=True)
    # The body's placeholders in order ("1", "2", … or named), with the example values.
    parameters = models.JSONField(default=list, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "WhatsApp template"
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["waba_id", "name", "language"], name="template_once_per_waba_language"
            ),
        ]
        indexes = [
            # Serves the send-time look-up by (name, language) and the campaign form's list.
            models.Index(fields=["name", "language"], name="template_name_language_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language}, {self.category or '?'}, {self.status or '?'})"

    @property
    def is_approved(self) -> bool:
        return self.status == self.APPROVED


class TemplateChange(models.Model):
    """One field of a template changing (status, category, quality), kept forever."""

    template = models.ForeignKey(WhatsAppTemplate, on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(max_length=32)
    before = models.CharField(max_length=64, blank=True)
    after = models.CharField(max_length=64, blank=True)
    # "sync", or the webhook field it came by (template_category_update, …).
    source = models.CharField(max_length=64)
    at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["template", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.template.name}: {self.field} {self.before} → {self.after}"
