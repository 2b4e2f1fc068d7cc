"""Contact files imported from the admin, and exports made for the staff user who asked."""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from consent.models import ReconsentPolicy
from core.storage import export_storage, import_storage


class ContactImport(models.Model):
    """A contact file uploaded in the admin: checked (a dry run), confirmed once, imported."""

    class Stage(models.TextChoices):
        CHECKING = "checking", "Checking the file"
        CHECKED = "checked", "Checked: waiting for confirmation"
        INVALID = "invalid", "Has problems: nothing imported"
        QUEUED = "queued", "Confirmed: waiting for a worker"
        RUNNING = "running", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed: nothing imported"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    file = models.FileField(upload_to="%Y/%m/", storage=import_storage, blank=True)
    file_name = models.CharField(max_length=255)
    policy = models.ForeignKey(
        ReconsentPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tag = models.CharField(max_length=64, blank=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.CHECKING)
    # Chosen at confirmation: rows with problems are left out and the rest imported
    # (otherwise all or nothing).
    valid_rows_only = models.BooleanField(default=False)
    # Progress of the current stage, written by the worker as it goes.
    phase = models.CharField(max_length=16, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    check_report = models.JSONField(default=dict, blank=True)
    preview = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    # The rows refused, as uploaded, with a `problem` column: to fix and upload again.
    rejected_file = models.FileField(
        upload_to="rejected/%Y/%m/", storage=import_storage, blank=True
    )
    error = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Moved from the consent app with its table: no table is renamed under a running system.
        db_table = "consent_contactimport"
        verbose_name = "import"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.file_name

    @property
    def in_progress(self) -> bool:
        return self.stage in (self.Stage.CHECKING, self.Stage.QUEUED, self.Stage.RUNNING)

    @property
    def kept_until(self) -> datetime | None:
        """When the file goes (settings.EXPORT_RETENTION_DAYS after it was written)."""
        if self.finished_at is None:
            return None
        return self.finished_at + timedelta(days=settings.EXPORT_RETENTION_DAYS)

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.done / self.total)) if self.total else 0


class ExportJob(models.Model):
    """An export asked for in the admin, written by a worker, downloaded by the one who asked."""

    class Kind(models.TextChoices):
        CONTACTS = "contacts", "Contacts"
        LEDGER = "ledger", "Consent ledger"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX (Excel)"

    class Style(models.TextChoices):
        WORDS = "words", "Words, for people (dates as dates, states and languages named)"
        CODES = "codes", "Codes, for machines (as stored; reads back into an import)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Writing the file"
        DONE = "done", "Ready to download"
        FAILED = "failed", "Failed"
        # Past settings.EXPORT_RETENTION_DAYS: the file is deleted, the row stays.
        EXPIRED = "expired", "Expired (file deleted)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    file_format = models.CharField(max_length=8, choices=Format.choices, default=Format.CSV)
    style = models.CharField(max_length=8, choices=Style.choices, default=Style.WORDS)
    # What to export: {"ids": [...]} (a selection), {"filters": "<the list's query>"}, {}
    # (every contact); for the ledger {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}.
    selection = models.JSONField(default=dict, blank=True)
    # The same, in words ("3 selected contacts").
    description = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(upload_to="%Y/%m/", storage=export_storage, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "export"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["requested_by", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.description}"

    @property
    def in_progress(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def kept_until(self) -> datetime | None:
        """When the file goes (settings.EXPORT_RETENTION_DAYS after it was written)."""
        if self.finished_at is None:
            return None
        return self.finished_at + timedelta(days=settings.EXPORT_RETENTION_DAYS)

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.done / self.total)) if self.total else 0
