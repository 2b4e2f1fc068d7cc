from django.db import models

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


class AnswerTally(models.Model):
    """Opt-ins (grants) and opt-outs (withdraws) in effect per UTC hour and source, and for
    an opt-out that answered a campaign's message, that campaign.

    Written only by a trigger on the ledger (migration 0003), in the transaction of the
    events it counts: the chart and the campaigns most answered with an opt-out are exact
    the moment an answer commits, back-dated ones included. Appended, folded by beat.
    By hour so the page can group them by the staff user's own day.
    """

    hour = models.DateTimeField()
    action = models.CharField(max_length=16)
    source = models.CharField(max_length=24)
    campaign_id = models.UUIDField(null=True)
    delta = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.action} {self.source} {self.hour:%Y-%m-%d %H}h: {self.delta:+d}"


class ReconsentAsked(models.Model):
    """A contact asked again under a re-consent policy: a reminder that went out, or a
    re-consent campaign's request that left after the policy began. Inserted by triggers
    on reminders and messages (migration 0003), once per policy and contact."""

    policy = models.ForeignKey(
        "consent.ReconsentPolicy", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "contact"], name="asked_once_per_policy")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} asked under policy {self.policy_id}"


# The ReconsentTally figure that counts the contacts asked; the others are marketing statuses.
ASKED_FIGURE = "reminded"


class ReconsentTally(models.Model):
    """The re-consent funnel, per policy: contacts asked (`reminded`) and, per marketing
    status, how many of them stand there now. Kept by triggers on the asked rows and on
    the states (migration 0003), in the writer's transaction; appended, folded by beat."""

    policy_id = models.BigIntegerField()
    figure = models.CharField(max_length=16)
    delta = models.BigIntegerField()

    def __str__(self) -> str:
        return f"policy {self.policy_id} {self.figure}: {self.delta:+d}"
