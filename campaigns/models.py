import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import ReconsentPolicy, Topic
from consent.rules import MESSAGE_PURPOSE_CHOICES, Purpose
from contacts.models import Contact, Tag
from whatsapp.models import SendingNumber


class CampaignKind(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SERVICE = "service", "Service"
    RECONSENT = "reconsent", "Re-consent"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    LAUNCHED = "launched", "Launched"
    SENDING = "sending", "Sending"
    # Stopped by its template (paused, rejected, re-categorised): nothing goes until staff
    # resume it; `paused_reason` says why.
    PAUSED = "paused", "Paused"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    # Handed to the WhatsApp outbox, which delivers it after the consent check at send.
    SENDING = "sending", "Sending"
    SKIPPED = "skipped", "Skipped (not allowed at send time)"
    # Accepted by the Cloud API; the `sent` webhook then records Meta's own time.
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"
    # The worker stopped mid-send: it may have gone. Never sent again automatically;
    # staff decide in the outbox ("mark sent" / "send again").
    UNKNOWN = "unknown", "Unknown: may have been sent"


class Campaign(models.Model):
    """A template message to an audience, sent only where consent allows at send time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=CampaignKind.choices)
    purpose = models.CharField(
        max_length=16,
        # Never calls: a call permission is not consent to messages.
        choices=MESSAGE_PURPOSE_CHOICES,
        help_text="The consent every recipient must give at the moment of sending.",
    )
    template_name = models.CharField(
        max_length=512, blank=True, help_text="Approved WhatsApp template (not for re-consent)."
    )
    # The fallback: a contact whose language the template is not approved in gets this one.
    template_language = models.CharField(max_length=16, default="en")
    template_languages = models.JSONField(
        default=list,
        blank=True,
        help_text="Languages the template is also approved in; each contact gets their own "
        "language when it is one of these, else the fallback language.",
    )
    body_params = models.JSONField(
        default=list,
        blank=True,
        help_text='Template body parameters in order; "{name}" becomes the contact\'s name.',
    )
    # The business number it goes out from; none: the business default
    # (WHATSAPP_PHONE_NUMBER_ID). In `number` stop scope it also decides who may get it.
    sending_number = models.ForeignKey(
        SendingNumber,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The business number it is sent from (empty: the business default).",
    )
    # Only those who chose this topic of the purpose get it ("Offers", not all marketing).
    topic = models.ForeignKey(
        Topic,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A topic of the purpose: only people who chose it get the campaign "
        "(empty: everyone the purpose allows).",
    )
    audience_tags = models.ManyToManyField(
        Tag, blank=True, related_name="+", help_text="Contacts with any of these tags."
    )
    audience_attributes = models.JSONField(
        default=dict, blank=True, help_text="Contacts whose attributes match every key=value."
    )
    audience_states = models.JSONField(
        default=list,
        blank=True,
        help_text="Contacts in any of these consent states for the purpose (empty: any state).",
    )
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    launched_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Every Message row exists (the fan-out is over): from then on the campaign's
    # status follows its messages.
    fanned_out_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused_reason = models.TextField(blank=True, editable=False, default="", db_default="")
    # What its template did that staff should know, even when nothing paused (a purpose moved).
    template_notice = models.TextField(blank=True, editable=False, default="", db_default="")

    class Meta:
        ordering = ["-created_at"]
        permissions = [("launch_campaign", "Can launch campaigns")]
        constraints = [
            models.CheckConstraint(
                name="campaign_template_unless_reconsent",
                condition=Q(kind=CampaignKind.RECONSENT) | ~Q(template_name=""),
            ),
            models.CheckConstraint(
                name="campaign_marketing_kind_needs_marketing_consent",
                condition=~Q(kind=CampaignKind.MARKETING) | Q(purpose=Purpose.MARKETING),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def phone_number_id(self) -> str:
        """The number its messages go out from, and that the stop scope asks about."""
        if self.sending_number is not None:
            return self.sending_number.phone_number_id
        return settings.WHATSAPP_PHONE_NUMBER_ID

    def language_for(self, contact_language: str) -> str:
        """The template language a contact gets: theirs if approved, else the fallback."""
        if contact_language and contact_language in (self.template_languages or []):
            return contact_language
        return self.template_language


class Message(models.Model):
    """One campaign message to one contact; at most one per campaign × contact."""

    # No index of their own: (campaign, contact) and (contact, delivered_at) below lead
    # with them. Each index is written for every row a fan-out inserts (a million at once).
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    # The eligibility reason (consent.selectors.Reason) when skipped at send time.
    skip_reason = models.CharField(max_length=32, blank=True)
    wamid = models.CharField("WhatsApp message id", max_length=256, null=True, blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_title = models.CharField(max_length=512, blank=True)
    # A `failed` status that arrived after `delivered` / `read`: shown, and the
    # delivered history kept.
    late_failure_code = models.CharField(max_length=16, blank=True)
    late_failure_title = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [
            # A retried task never sends twice: the row is the claim.
            models.UniqueConstraint(
                fields=["campaign", "contact"], name="message_once_per_contact"
            ),
            models.UniqueConstraint(
                fields=["wamid"], condition=Q(wamid__isnull=False), name="message_unique_wamid"
            ),
        ]
        indexes = [
            # Serves counts per status and "anything left to send?".
            models.Index(fields=["campaign", "status"], name="message_campaign_status_idx"),
            # Serves "the last message delivered to this contact before an opt-out".
            models.Index(fields=["contact", "delivered_at"], name="message_contact_delivered_idx"),
        ]

    def __str__(self) -> str:
        return f"To {self.contact}: {self.get_status_display()}"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    # Handed to the WhatsApp outbox.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped (answered meanwhile)"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown: may have been sent"


class ReminderSent(models.Model):
    """A re-consent reminder for one policy offset: inserted before sending, so once only."""

    policy = models.ForeignKey(ReconsentPolicy, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    offset = models.PositiveIntegerField(help_text="Days before the deadline.")
    purposes = models.JSONField(default=list)
    status = models.CharField(
        max_length=16, choices=ReminderStatus.choices, default=ReminderStatus.PENDING
    )
    wamid = models.CharField("WhatsApp message id", max_length=256, blank=True)
    error = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "re-consent reminder"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "contact", "offset"], name="reminder_once_per_offset"
            ),
        ]

    def __str__(self) -> str:
        return f"reminder {self.offset}d to {self.contact_id}: {self.status}"


class TemplateChangeNotice(models.Model):
    """A template's category changed under a running campaign: told on the dashboard.

    Shown until staff dismiss it or, for a campaign it paused, until the campaign is
    handled (resumed or cancelled).
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    template_name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    category_before = models.CharField(max_length=32, blank=True)
    category_after = models.CharField(max_length=32)
    paused = models.BooleanField(help_text="The change paused the campaign.")
    changed_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-changed_at"]
        indexes = [
            models.Index(
                fields=["changed_at"],
                name="template_notice_open_idx",
                condition=Q(dismissed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_name} became {self.category_after}: {self.campaign_id}"
