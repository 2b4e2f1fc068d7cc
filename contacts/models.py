import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.dates import moment

from .phones import PhoneField, normalize_phone, phone_hash


def new_contact_secret() -> str:
    return secrets.token_urlsafe(16)


class Tag(models.Model):
    name = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone = PhoneField(null=True, blank=True, unique=True, help_text="Stored in E.164.")
    # Keyed hash of the phone; kept after erasure so a returning number is
    # still known (and still opted out).
    phone_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    wa_id = models.CharField("WhatsApp id", max_length=32, null=True, blank=True, unique=True)
    whatsapp_user_id = models.CharField(
        "WhatsApp business-scoped user id", max_length=128, null=True, blank=True, unique=True
    )
    parent_user_id = models.CharField(max_length=128, null=True, blank=True)
    username = models.CharField("WhatsApp username", max_length=128, null=True, blank=True)
    # A duplicate merged into another contact: its identifiers answer for the survivor.
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged"
    )
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=16, default="en")
    external_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    attributes = models.JSONField(default=dict, blank=True)
    # Rotating it revokes every preference link sent so far.
    link_secret = models.CharField(max_length=32, default=new_contact_secret, editable=False)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Staff blocked this person: never messaged, for any purpose, until unblocked (audited).
    blocked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Defaults in the database too: set-based INSERTs (imports) name only the columns they fill.
    blocked_reason = models.CharField(
        max_length=500, blank=True, editable=False, default="", db_default=""
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("erase_contact", "Can erase a contact (GDPR art. 17)")]
        constraints = [
            models.CheckConstraint(
                name="contact_has_phone_or_user_id",
                condition=Q(phone__isnull=False)
                | Q(wa_id__isnull=False)
                | Q(whatsapp_user_id__isnull=False)
                | Q(erased_at__isnull=False),
            ),
        ]
        indexes = [
            # Serves the newest-first lists (admin and API: created_at, then pk) at any size.
            models.Index(fields=["created_at", "id"], name="contact_created_idx"),
            # Serves the API's `updated_since` filter.
            models.Index(fields=["updated_at"], name="contact_updated_at_idx"),
            # Serves the resolver's lookups by parent id and username.
            models.Index(fields=["parent_user_id"], name="contact_parent_user_id_idx"),
            models.Index(fields=["username"], name="contact_username_idx"),
        ]

    def __str__(self) -> str:
        if self.erased_at:
            return f"erased contact {str(self.id)[:8]}"
        label = str(self.phone) if self.phone else self.whatsapp_user_id
        return f"{self.name} ({label})" if self.name else str(label)

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def save(self, *args, **kwargs) -> None:
        # Never store a phone that is not valid E.164, whichever way it arrived.
        if self.phone:
            e164 = normalize_phone(str(self.phone))
            self.phone = e164
            self.phone_hash = phone_hash(e164)
        for field in ("wa_id", "whatsapp_user_id", "parent_user_id", "username", "external_id"):
            if getattr(self, field) == "":
                setattr(self, field, None)
        super().save(*args, **kwargs)


class Erasure(models.Model):
    """Log of erasures by keyed hash, so they can be replayed after a restore."""

    contact_id = models.UUIDField()
    phone_hash = models.CharField(max_length=64, null=True, blank=True)
    erased_at = models.DateTimeField()
    erased_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["erased_at"]

    def __str__(self) -> str:
        return f"erasure of {self.contact_id} at {moment(self.erased_at)}"


class Suppression(models.Model):
    """A keyed hash of an identifier an erased person had: it stays opted out if it returns.

    Holds no personal data; `erasure` says when and why, so a returning
    person's opt-out can cite it.
    """

    class Kind(models.TextChoices):
        PHONE = "phone", "Phone"
        WA_ID = "wa_id", "WhatsApp id"
        USER_ID = "whatsapp_user_id", "Business-scoped user id"
        PARENT_USER_ID = "parent_user_id", "Parent user id"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    digest = models.CharField(max_length=64)
    erasure = models.ForeignKey(Erasure, on_delete=models.PROTECT, related_name="suppressions")
    # The erased contact, whose ledger holds what the person had withdrawn.
    contact_id = models.UUIDField()
    # How many keys `digest` is keyed with (contacts.phones.hash_key_version).
    key_version = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "digest"], name="suppression_unique_digest"),
        ]

    def __str__(self) -> str:
        return f"suppressed {self.kind} {self.digest[:12]}…"


class IdentityChange(models.Model):
    """An identifier of a contact changed (the platform said so, or staff merged)."""

    class Kind(models.TextChoices):
        PHONE = "phone", "Phone number"
        WA_ID = "wa_id", "WhatsApp id"
        USER_ID = "whatsapp_user_id", "Business-scoped user id"
        PARENT_USER_ID = "parent_user_id", "Parent user id"
        USERNAME = "username", "Username"
        MERGED = "merged", "Merged into another contact"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identity_changes")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)
    # What said so: "user_changed_number", "user_id_update", "admin merge", …
    source = models.CharField(max_length=64)
    wamid = models.CharField(max_length=256, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.old_value or '—'} → {self.new_value or '—'} ({self.source})"


class LikelyDuplicate(models.Model):
    """Two contacts that one delivery's identifiers named together: probably one person."""

    class Resolution(models.TextChoices):
        PENDING = "pending", "To review"
        MERGED = "merged", "Merged"
        DISTINCT = "distinct", "Different people"

    # Stored with first.pk < second.pk, so a pair is listed once.
    first = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    # The identifiers that pointed at both.
    evidence = models.JSONField(default=dict, blank=True)
    resolution = models.CharField(
        max_length=16, choices=Resolution.choices, default=Resolution.PENDING
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="duplicate_unique_pair"),
            models.CheckConstraint(
                name="duplicate_ordered_pair", condition=Q(first__lt=F("second"))
            ),
        ]
        indexes = [
            # Serves the admin's "to review" list and the dashboard count.
            models.Index(
                fields=["created_at"],
                name="duplicate_pending_idx",
                condition=Q(resolution="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first} ≈ {self.second} ({self.get_resolution_display()})"
