"""Groups, invitations and memberships. A membership exists only because an invitation was
accepted: it references that invitation, and the database refuses any other row."""

import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.rules import MESSAGE_PURPOSE_CHOICES, Purpose
from contacts.models import Contact


def new_invitation_token() -> str:
    return secrets.token_urlsafe(24)


class MembershipRequiresAcceptance(Exception):
    """Raised when code tries to create a membership other than by accepting an invitation."""


class Group(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    purpose = models.CharField(
        max_length=16,
        # Never calls: a call permission is not consent to messages.
        choices=MESSAGE_PURPOSE_CHOICES,
        default=Purpose.MARKETING,
        help_text="Invitations go only to contacts we may message for this purpose.",
    )
    whatsapp_group_id = models.CharField(
        "WhatsApp group id", max_length=128, null=True, blank=True, unique=True
    )
    # Set while the platform creates the group (it answers with a request id first).
    whatsapp_request_id = models.CharField(max_length=128, blank=True, editable=False)
    invite_link = models.URLField(max_length=500, blank=True)
    capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most members at once; empty for no limit."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_whatsapp_group(self) -> bool:
        return bool(self.whatsapp_group_id)


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class AnswerSource(models.TextChoices):
    WHATSAPP_BUTTON = "whatsapp_button", "WhatsApp button"
    ANSWER_PAGE = "answer_page", "Invitation page"
    PREFERENCE_CENTRE = "preference_centre", "Preference centre"
    API = "api", "API"


class InviteSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    SYSTEM = "system", "System"


class LeaveSource(models.TextChoices):
    WHATSAPP_BUTTON = "whatsapp_button", "WhatsApp button"
    WHATSAPP_PLATFORM = "whatsapp_platform", "Left the WhatsApp group"
    ANSWER_PAGE = "answer_page", "Invitation page"
    PREFERENCE_CENTRE = "preference_centre", "Preference centre"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    ERASURE = "erasure", "Erased at the person's request"


class GroupInvitation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="invitations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="group_invitations")
    status = models.CharField(
        max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    # Bearer secret of the answer page `/invitations/<token>/`.
    token = models.CharField(
        max_length=64, unique=True, default=new_invitation_token, editable=False
    )
    invite_source = models.CharField(
        max_length=16, choices=InviteSource.choices, default=InviteSource.ADMIN
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # The invitation message: a button reply quotes it as context.
    message_wamid = models.CharField(max_length=256, blank=True)
    send_error = models.TextField(blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    # Evidence of the answer.
    answer_source = models.CharField(max_length=24, choices=AnswerSource.choices, blank=True)
    answer_ip = models.CharField("IP address", max_length=45, blank=True)
    answer_user_agent = models.TextField(blank=True)
    answer_page_url = models.URLField(max_length=2000, blank=True)
    answer_wamid = models.CharField("WhatsApp message id", max_length=256, blank=True)
    answer_note = models.TextField(blank=True)
    answer_context = models.JSONField(default=dict, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # When the WhatsApp group's invite link went out (after acceptance).
    invite_link_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A second pending invitation for the same person and group is refused by the
            # database, whatever the race.
            models.UniqueConstraint(
                fields=["group", "contact"],
                condition=Q(status="pending"),
                name="groups_one_pending_invitation",
            ),
            models.CheckConstraint(
                name="groups_answered_invitation_has_time",
                condition=~Q(status__in=["accepted", "declined"]) | Q(responded_at__isnull=False),
            ),
        ]
        indexes = [
            # Serves expire_invitations: pending rows past their expiry.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="pending"),
                name="groups_pending_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} → {self.group} ({self.status})"

    @property
    def accept_url(self) -> str:
        return f"{settings.SITE_URL}/invitations/{self.token}/"

    @property
    def button_ids(self) -> tuple[str, str]:
        return (f"invite:{self.pk}:accept", f"invite:{self.pk}:decline")

    def is_past_expiry(self, at: datetime | None = None) -> bool:
        return (at or timezone.now()) >= self.expires_at


class MembershipQuerySet(models.QuerySet):
    def bulk_create(self, *args, **kwargs):
        raise MembershipRequiresAcceptance("memberships are created only by accepting")

    def update_or_create(self, *args, **kwargs):
        raise MembershipRequiresAcceptance("memberships are created only by accepting")

    def get_or_create(self, *args, **kwargs):
        raise MembershipRequiresAcceptance("memberships are created only by accepting")


class GroupMembership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The acceptance this membership stands on; group and contact are copied from it so
    # the database can keep one current membership per (group, contact).
    invitation = models.OneToOneField(
        GroupInvitation, on_delete=models.PROTECT, related_name="membership"
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="group_memberships")
    joined_at = models.DateTimeField(default=timezone.now, editable=False)
    left_at = models.DateTimeField(null=True, blank=True)
    left_source = models.CharField(max_length=24, choices=LeaveSource.choices, blank=True)
    # For an end the WhatsApp group reported: who the platform says did it ("participant":
    # they left; "business": a removal), as it said it.
    left_initiated_by = models.CharField(max_length=32, blank=True, default="", db_default="")

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["-joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "contact"],
                condition=Q(left_at__isnull=True),
                name="groups_one_current_membership",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.group}"

    @property
    def is_current(self) -> bool:
        return self.left_at is None

    def save(self, *args, **kwargs) -> None:
        if self._state.adding:
            invitation = GroupInvitation.objects.get(pk=self.invitation_id)
            if invitation.status != InvitationStatus.ACCEPTED:
                raise MembershipRequiresAcceptance(
                    f"invitation {invitation.pk} is {invitation.status}, not accepted"
                )
            if (invitation.group_id, invitation.contact_id) != (self.group_id, self.contact_id):
                raise MembershipRequiresAcceptance("membership must match its invitation")
        super().save(*args, **kwargs)
