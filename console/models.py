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
