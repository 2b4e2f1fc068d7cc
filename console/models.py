from django.db import models
from django.utils import timezone


class DashboardSnapshot(models.Model):
    """The dashboard's heavy figures for one day, refreshed by beat (console.tasks).

    Counting states over a million contacts and opt-ins over three million events
    takes seconds; the dashboard reads this row instead. Today's row is rewritten
    by each refresh; earlier days' rows stay as they were when the day ended, so
    "change over 7 days" is today's count minus the count on the row of 7 days ago.
    """

    day = models.DateField(unique=True)
    taken_at = models.DateTimeField(default=timezone.now)
    # states {purpose: {status: n}}, daily [...], funnel {...}, opt_out_campaigns [...]
    figures = models.JSONField(default=dict)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"dashboard figures of {self.day}"


# The row that counts contacts (the `none` cards are contacts without another state).
CONTACTS_PURPOSE = ""
CONTACTS_STATUS = "contacts"


class StateTally(models.Model):
    """Net change in the number of (contact, purpose) states per status, per day recorded.

    Written only by database triggers on the states and contacts tables (migration
    0002), in the transaction of the statement that changed them: the dashboard's
    counts are the sums of these rows, exact the moment a change commits, whatever
    wrote it (record_consent, the import's COPY, a merge, a rebuild). Rows are
    appended, never updated, so concurrent writers never wait on each other; beat
    folds them together every minute (console.services.compact_state_tallies).
    """

    purpose = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    day = models.DateField()
    delta = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.purpose or 'contacts'} {self.status} {self.day}: {self.delta:+d}"
