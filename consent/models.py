import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact
from core.dates import day, moment

from .rules import Action, Purpose, Source, Status


class LedgerIsAppendOnly(Exception):
    """Raised on any attempt to change or remove a consent event."""


class Topic(models.Model):
    """A refinement of a purpose a person may keep or leave ("Offers", "New arrivals").

    Retired, never deleted: the ledger names it by key.
    """

    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    key = models.SlugField(max_length=32, help_text="Stable: the ledger and the API name it.")
    # {"en": "Offers", "es": "Ofertas"}: the language codes of the preference centre.
    names = models.JSONField(default=dict)
    descriptions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["purpose", "key"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "key"], name="topic_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose}/{self.key}"

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("en") or self.key

    def description(self, language: str) -> str:
        return self.descriptions.get(language) or self.descriptions.get("en") or ""

    def delete(self, *args, **kwargs):
        raise LedgerIsAppendOnly(f"topic {self} is retired, never deleted")


class ConsentNotice(models.Model):
    """The versioned wording a person is shown when asked for consent (to a purpose, or
    to one topic under it)."""

    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    topic = models.ForeignKey(
        Topic, on_delete=models.PROTECT, null=True, blank=True, related_name="notices"
    )
    language = models.CharField(max_length=16)
    version = models.PositiveIntegerField()
    text = models.TextField()
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["purpose", "language", "-version"]
        permissions = [("publish_consentnotice", "Can publish notice wording")]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "language", "version"],
                condition=Q(topic__isnull=True),
                name="notice_unique_version",
            ),
            models.UniqueConstraint(
                fields=["topic", "language", "version"],
                condition=Q(topic__isnull=False),
                name="topic_notice_unique_version",
            ),
        ]

    def __str__(self) -> str:
        return self.ref

    @property
    def ref(self) -> str:
        if self.topic is not None:
            return f"{self.purpose}/{self.topic.key}/{self.language}/{self.version}"
        return f"{self.purpose}/{self.language}/{self.version}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def clean(self) -> None:
        topic = self.topic
        if topic is not None and topic.purpose != self.purpose:
            raise ValidationError(
                {"topic": f"topic {topic} is under {topic.purpose}, not {self.purpose}"}
            )

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            stored = ConsentNotice.objects.filter(pk=self.pk).values("published_at").first()
            if stored and stored["published_at"] is not None:
                raise LedgerIsAppendOnly(
                    f"notice {self.ref} is published; publish a new version instead"
                )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if ConsentNotice.objects.filter(pk=self.pk, published_at__isnull=False).exists():
            raise LedgerIsAppendOnly(f"notice {self.ref} is published and cannot be deleted")
        return super().delete(*args, **kwargs)


class ConsentEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerIsAppendOnly("consent events cannot be updated")

    def delete(self):
        raise LedgerIsAppendOnly("consent events cannot be deleted")

    def bulk_update(self, *args, **kwargs):
        raise LedgerIsAppendOnly("consent events cannot be updated")

    def update_or_create(self, *args, **kwargs):
        raise LedgerIsAppendOnly("consent events are written by consent.services only")


class ConsentEvent(models.Model):
    """One immutable entry of a contact's consent ledger (a hash chain per contact)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the (contact, seq) constraint below: no index of its own.
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="consent_events", db_index=False
    )
    # Position in the contact's chain: 1, 2, 3 … (unique, so no fork survives a race).
    seq = models.PositiveIntegerField()
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    # The key of the Topic under `purpose` this event is about; null: the purpose itself.
    # A key, not a foreign key: chained as text, and a topic is retired, never deleted.
    # Nullable, so SQLite adds the column in place and keeps the ledger's trigger.
    topic = models.CharField(max_length=32, null=True, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    source = models.CharField(max_length=24, choices=Source.choices)
    notice = models.ForeignKey(
        ConsentNotice, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    # Evidence. The personal part (ip, user agent, page URL, note) lives in
    # ConsentEvidence, so erasure can delete it; the chain hashes its digest.
    wamid = models.CharField("WhatsApp message id", max_length=256, blank=True)
    # The message this answer replied to (or the last one delivered): which
    # campaign drives opt-outs.
    prompted_by_wamid = models.CharField(max_length=256, blank=True)
    # System context (idempotency fingerprint, import key, undo links): chained as is.
    context = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff user who recorded it, if any.",
    )
    # Which canonical form the hash covers: 1 = evidence inline (events written
    # before evidence moved out; kept so their hashes still verify), 2 = its digest,
    # 3 = its digest and the topic (consent.chain.FIELDS_OF_FORM).
    form = models.PositiveSmallIntegerField(default=3, editable=False)
    # SHA-256 over a random salt and the personal evidence; "" when there was none.
    evidence_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # False when the event is kept as evidence only: it arrived after a newer
    # answer (late webhook, old import) and did not change the state.
    applied = models.BooleanField(default=True)
    status_after = models.CharField(max_length=16, choices=Status.choices)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, unique=True)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["contact", "seq"]
        permissions = [("export_proof", "Can export proof of consent")]
        constraints = [
            models.UniqueConstraint(fields=["contact", "seq"], name="event_unique_chain_position"),
            models.CheckConstraint(
                name="event_notice_for_grant_and_request",
                condition=~Q(action__in=["grant", "request"]) | Q(notice__isnull=False),
            ),
        ]
        indexes = [
            # Serves the ledger listing and filters by time.
            models.Index(fields=["occurred_at"], name="event_occurred_at_idx"),
            # Serves replaying and checking topic states: the few events about a topic.
            models.Index(
                fields=["contact", "seq"], name="event_topic_idx", condition=Q(topic__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        # Inline titles in the admin read as words: "Withdraw · Marketing · WhatsApp keyword …".
        return (
            f"#{self.seq} {self.get_action_display()} · {self.get_purpose_display()} · "
            f"{self.get_source_display()} · {moment(self.occurred_at)}"
        )

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise LedgerIsAppendOnly("consent events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerIsAppendOnly("consent events cannot be deleted")

    def _personal(self) -> "ConsentEvidence | None":
        try:
            return self.personal_evidence
        except ConsentEvidence.DoesNotExist:
            return None

    @property
    def ip(self) -> str:
        personal = self._personal()
        return personal.ip if personal else ""

    @property
    def user_agent(self) -> str:
        personal = self._personal()
        return personal.user_agent if personal else ""

    @property
    def page_url(self) -> str:
        personal = self._personal()
        return personal.page_url if personal else ""

    @property
    def note(self) -> str:
        personal = self._personal()
        return personal.note if personal else ""

    @property
    def evidence_erased_at(self):
        personal = self._personal()
        return personal.erased_at if personal else None

    @property
    def evidence_statement(self) -> str | None:
        erased_at = self.evidence_erased_at
        if erased_at is None:
            return None
        return f"evidence erased on {erased_at:%Y-%m-%d} at the person's request"

    @property
    def evidence(self) -> dict:
        return {
            "ip": self.ip or None,
            "user_agent": self.user_agent or None,
            "page_url": self.page_url or None,
            "wamid": self.wamid or None,
            "prompted_by_wamid": self.prompted_by_wamid or None,
            "note": self.note or None,
            "erased_at": self.evidence_erased_at,
        }


class ConsentEvidence(models.Model):
    """The personal evidence of one event, apart from the chain so erasure can remove it.

    Erasure blanks the row and stamps `erased_at`: the event keeps its digest,
    and the ledger can say when the evidence went.
    """

    event = models.OneToOneField(
        ConsentEvent,
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="personal_evidence",
    )
    # Random per event, so a digest cannot be matched against guessed evidence.
    salt = models.CharField(max_length=32, blank=True)
    ip = models.CharField("IP address", max_length=45, blank=True)
    user_agent = models.TextField(blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    note = models.TextField(blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "consent evidence"

    def __str__(self) -> str:
        return f"evidence of {self.event_id}"


class ProjectedConsent(models.Model):
    """What a projection of the ledger holds, for a purpose or a topic: where the person
    stands, since when, on what wording, and what ordering needs to weigh the next event."""

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NONE)
    since = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=24, choices=Source.choices, blank=True)
    notice = models.ForeignKey(
        ConsentNotice, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_event = models.ForeignKey(
        ConsentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # What ordering needs (consent.ordering.Standing): the latest effective time
    # of any applied event, and of an applied permissive one.
    latest_at = models.DateTimeField(null=True, blank=True)
    permissive_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ConsentState(ProjectedConsent):
    """Current status per (contact, purpose): the projection of the ledger."""

    # Indexed by the (contact, purpose) constraint: no index of its own.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="consent_states", db_index=False
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["contact", "purpose"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "purpose"], name="state_unique_purpose"),
        ]
        indexes = [
            # Serves audience selection and list filters by state.
            models.Index(fields=["purpose", "status"], name="state_purpose_status_idx"),
            # Serves the legacy expiry sweep.
            models.Index(
                fields=["expires_at"], name="state_legacy_expiry_idx", condition=Q(status="legacy")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()}: {self.get_status_display()}"


class TopicState(ProjectedConsent):
    """Current status per (contact, topic): the projection of the topic's events.

    Apart from ConsentState, whose (contact, purpose) rows the hot paths read: a topic
    only narrows what its purpose allows (consent.selectors.may_send_topic).
    """

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="topic_states", db_index=False
    )
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="states")

    class Meta:
        ordering = ["contact", "topic"]
        constraints = [
            # Also serves "this contact's topics".
            models.UniqueConstraint(fields=["contact", "topic"], name="topic_state_unique"),
        ]
        indexes = [
            # Serves audiences by topic ("who kept offers").
            models.Index(fields=["topic", "status"], name="topic_state_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.topic}: {self.get_status_display()}"


class ReconsentPolicy(models.Model):
    """The business's grace period for consent that predates the new rules."""

    name = models.CharField(max_length=200)
    deadline = models.DateTimeField(help_text="Legacy consent lapses at this moment.")
    reminder_offsets = models.JSONField(
        default=list, blank=True, help_text="Days before the deadline to remind, e.g. [30, 7, 1]."
    )
    template_name = models.CharField(max_length=512, blank=True)
    template_language = models.CharField(max_length=16, default="en")
    active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "re-consent policies"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="one_active_reconsent_policy"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (deadline {day(self.deadline)})"


class PolicyDeadlineChange(models.Model):
    """A re-consent policy's deadline moved: legacy consent follows it, and this says so."""

    policy = models.ForeignKey(
        ReconsentPolicy, on_delete=models.PROTECT, related_name="deadline_changes"
    )
    old_deadline = models.DateTimeField()
    new_deadline = models.DateTimeField()
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["changed_at"]

    def __str__(self) -> str:
        return f"{self.policy.name}: {day(self.old_deadline)} → {day(self.new_deadline)}"


class OutrankedOptOut(models.Model):
    """A restrictive event that did not apply because a later answer outranked it.

    Kept for staff to work through: the person may still want to stop.
    """

    class Resolution(models.TextChoices):
        PENDING = "pending", "To review"
        WITHDRAWN = "withdrawn", "Recorded as an opt-out now"
        KEPT = "kept", "The later answer stands"

    event = models.OneToOneField(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    outranked_by = models.ForeignKey(
        ConsentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(
        max_length=16, choices=Resolution.choices, default=Resolution.PENDING
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_event = models.ForeignKey(
        ConsentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Serves the admin's default "to review" list and the dashboard count.
            models.Index(
                fields=["created_at"],
                name="outranked_pending_idx",
                condition=Q(resolution="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"outranked {self.event} ({self.get_resolution_display()})"


class LedgerSeal(models.Model):
    """A day's seal: the Merkle root over every chain's head, chained to the previous seal.

    Append-only like the ledger (a trigger on PostgreSQL). Published (`export_seal`),
    it lets anyone detect a chain deleted or truncated after that day.
    """

    seq = models.PositiveIntegerField(unique=True, editable=False)
    sealed_on = models.DateField(unique=True, editable=False)
    sealed_at = models.DateTimeField(default=timezone.now, editable=False)
    chains = models.PositiveIntegerField(editable=False)
    events = models.PositiveBigIntegerField(editable=False)
    root = models.CharField(max_length=64, editable=False)
    prev_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)
    # Form 1: the fields above. Form 2 also seals the notices (their count and Merkle
    # root) and stores its tree's blocks (`SealBlock`), so a proof reads one block.
    form = models.PositiveSmallIntegerField(default=1, editable=False)
    notices = models.PositiveIntegerField(null=True, blank=True, editable=False)
    notices_root = models.CharField(max_length=64, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"seal #{self.seq} of {self.sealed_on} ({self.chains} chains)"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise LedgerIsAppendOnly("ledger seals cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerIsAppendOnly("ledger seals cannot be deleted")


class SealedHead(models.Model):
    """A chain head as a seal saw it, stored when it changed since the previous seal.

    The heads of seal N are, per contact, the latest row with seal <= N: what
    `verify_ledger --seals` compares with the ledger to name a deleted or truncated chain.
    """

    # No database constraint: a million rows per first seal would queue a million deferred
    # checks for the commit; the seal is append-only and verify_ledger --seals reads both.
    seal = models.ForeignKey(
        LedgerSeal, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    # The contact's id, not a foreign key: the seal outlives whatever is done to the contact.
    contact_id = models.UUIDField()
    seq = models.PositiveIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            # Also serves "latest sealed head per contact" (max seq per contact_id).
            models.UniqueConstraint(fields=["contact_id", "seq"], name="sealed_head_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} #{self.seq}"


class SealBlock(models.Model):
    """A run of a form-2 seal's leaves (a power of two, the last one shorter) and its root.

    In RFC 6962's tree such a block is a subtree, and the seal's root is the tree over
    the block roots: an inclusion path is the leaf's path in its block, read again from
    the sealed heads, then the block's path among the block roots.
    """

    seal = models.ForeignKey(
        LedgerSeal, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    index = models.PositiveIntegerField()
    first_contact_id = models.UUIDField()
    last_contact_id = models.UUIDField()
    leaves = models.PositiveIntegerField()
    root = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["seal", "index"], name="seal_block_unique"),
        ]
        indexes = [
            models.Index(fields=["seal", "first_contact_id"], name="seal_block_by_contact"),
        ]

    def __str__(self) -> str:
        return f"seal {self.seal_id} block {self.index}"


class SealedNotice(models.Model):
    """A notice as a form-2 seal saw it: the leaf of its id, ref and text digest.

    A notice's text changed after the seal no longer gives its leaf, so the bundle's
    path to the seal's `notices_root` fails.
    """

    seal = models.ForeignKey(
        LedgerSeal, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    notice_id = models.PositiveBigIntegerField()
    leaf = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["seal", "notice_id"], name="sealed_notice_unique"),
        ]

    def __str__(self) -> str:
        return f"seal {self.seal_id} notice {self.notice_id}"
