"""What the conversation keeps: the keyword lists and the messages waiting for a person.

Both tables were created by the consent app and keep their names (`db_table`): the models
moved without a table renamed under a running system.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import ConsentEvent
from contacts.models import Contact

from .phrases import normalize_text


class ConsentKeyword(models.Model):
    """A word a person may send on WhatsApp to opt out, opt back in or ask for their link.

    Matched after normalisation (case, accents, punctuation and spaces ignored);
    the lists per language are seeded and editable in the admin.
    """

    class Meaning(models.TextChoices):
        STOP = "stop", "Opt out of marketing"
        STOP_ALL = "stop_all", "Opt out of every purpose"
        START = "start", "Send the one-tap opt-in"
        PREFERENCES = "preferences", "Send a preference-centre link"

    phrase = models.CharField(max_length=100, help_text="Stored normalised: 'stop promotions'.")
    language = models.CharField(max_length=16)
    meaning = models.CharField(max_length=16, choices=Meaning.choices)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "consent_consentkeyword"
        ordering = ["language", "meaning", "phrase"]
        constraints = [
            models.UniqueConstraint(fields=["language", "phrase"], name="keyword_unique_phrase"),
        ]
        indexes = [
            # Serves the lookup of an inbound text against the active lists.
            models.Index(
                fields=["phrase"], name="keyword_active_phrase_idx", condition=Q(active=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phrase} ({self.language}): {self.get_meaning_display()}"

    def save(self, *args, **kwargs) -> None:
        self.phrase = normalize_text(self.phrase)
        super().save(*args, **kwargs)


class OptOutReview(models.Model):
    """A WhatsApp message that might be an opt-out, waiting for a person to decide."""

    class Decision(models.TextChoices):
        PENDING = "pending", "To review"
        OPTED_OUT = "opted_out", "Recorded as an opt-out"
        DISMISSED = "dismissed", "Not an opt-out"

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="opt_out_reviews")
    wamid = models.CharField("WhatsApp message id", max_length=256, unique=True)
    prompted_by_wamid = models.CharField(max_length=256, blank=True)
    text = models.TextField()
    matched = models.CharField(max_length=200, blank=True, help_text="Why it was queued.")
    received_at = models.DateTimeField()
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    event = models.ForeignKey(
        ConsentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "consent_optoutreview"
        ordering = ["-received_at"]
        indexes = [
            # Serves the admin's default "to review" list.
            models.Index(
                fields=["received_at"], name="review_pending_idx", condition=Q(decision="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.text[:40]!r} from {self.contact} ({self.get_decision_display()})"
