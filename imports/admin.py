"""Imports and exports in the admin: pages over jobs that run on the `files` queue.

Imports: Imports → "Upload a file" -> the check (a dry run in the worker) with its
report, the rows with problems and a download of the rejected rows -> confirm once,
all or nothing or the valid rows only -> the import in the worker -> result.
Exports: the contact list's "Export" button, its "Export selected contacts" action
and the ledger's "Export a period" each ask for a file; a worker writes it and the
person who asked downloads it from the export's page. Pages in progress refresh
themselves (no script: the CSP allows none inline).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseGone,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from consent.models import ReconsentPolicy
from contacts.admin import ContactAdminPart, ObjectTool, contribute_to_contact_admin
from core.dates import day

from .columns import KNOWN_COLUMNS
from .export_jobs import may_download, start_export
from .jobs import confirm_import, start_import
from .limits import FileLimits, size_in_words
from .models import ContactImport, ExportJob
from .report import ImportReport
from .selection import contacts_from_filters, list_query
from .uploads import upload_refused

IMPORT_PERMISSION = "imports.add_contactimport"
LEDGER_PERMISSION = "consent.export_proof"
Stage = ContactImport.Stage


def _staff(request: HttpRequest) -> User:
    # The admin site serves only authenticated staff users.
    return cast(User, request.user)


def _page(request: HttpRequest, model_admin: admin.ModelAdmin, **context: Any) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "changelist_url": reverse(
            f"admin:{model_admin.model._meta.app_label}_{model_admin.model._meta.model_name}"
            "_changelist"
        ),
        **context,
    }


# --- Imports ------------------------------------------------------------------------


class ImportForm(forms.Form):
    # The theme's widgets: its script writes a chosen file's name into the text box
    # that belongs to its own file widget (with a bare input it filled in "tag").
    file = forms.FileField(
        help_text="CSV (UTF-8) or XLSX; the first row names the columns.",
        widget=UnfoldAdminFileFieldWidget,
    )
    policy = forms.ModelChoiceField(
        ReconsentPolicy.objects.all(),
        required=False,
        empty_label="the active re-consent policy",
        help_text="Legacy consent lapses at this policy's deadline.",
        widget=UnfoldAdminSelectWidget,
    )
    tag = forms.SlugField(
        required=False,
        max_length=64,
        help_text="Added to every imported contact.",
        widget=UnfoldAdminTextInputWidget,
    )

    def __init__(self, *args: Any, too_large: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = FileLimits.from_settings()
        self.fields["file"].help_text += f" At most {size_in_words(self.limits.file_bytes)}."
        if too_large:
            # The upload was dropped as it arrived (imports.uploads): say why.
            self.fields["file"].error_messages["required"] = self.limits.file_too_large()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.limits.file_bytes:
            raise forms.ValidationError(self.limits.file_too_large(upload.size))
        if not upload.name.lower().endswith((".csv", ".xlsx", ".txt")):
            raise forms.ValidationError("Upload a .csv or .xlsx file.")
        return upload


ALL_OR_NOTHING, VALID_ONLY = "all", "valid"


class ConfirmForm(forms.Form):
    mode = forms.ChoiceField(
        label="How to import",
        choices=[
            (ALL_OR_NOTHING, "All or nothing: import only if every row can be imported"),
            (VALID_ONLY, "Import the valid rows only, and leave out the rejected ones"),
        ],
        initial=ALL_OR_NOTHING,
        widget=UnfoldAdminRadioSelectWidget,
    )


@admin.register(ContactImport)
class ContactImportAdmin(ModelAdmin):
    change_list_template = "admin/imports/contactimport/change_list.html"
    list_display = ["file_name", "stage", "uploaded_by", "created_at", "finished_at"]
    list_display_links = ["file_name"]
    list_filter = ["stage"]
    list_select_related = ["uploaded_by"]
    fields = ["file_name", "stage", "uploaded_by", "confirmed_by", "created_at", "finished_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="imports_contactimport_upload"),
            path("<uuid:pk>/report/", wrap(self.job_view), name="imports_contactimport_job"),
            path(
                "<uuid:pk>/confirm/",
                wrap(require_POST(self.confirm_view)),
                name="imports_contactimport_confirm",
            ),
            path(
                "<uuid:pk>/rejected/",
                wrap(self.rejected_view),
                name="imports_contactimport_rejected",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra = {"may_upload": request.user.has_perm(IMPORT_PERMISSION), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:imports_contactimport_job", pk=object_id)

    def _may_import(self, request: HttpRequest) -> None:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        self._may_import(request)
        posted = request.method == "POST"
        form = ImportForm(
            request.POST if posted else None,
            request.FILES if posted else None,
            too_large=upload_refused(request),
        )
        if posted and form.is_valid():
            upload = form.cleaned_data["file"]
            job = start_import(
                upload=upload,
                file_name=upload.name,
                uploaded_by=_staff(request),
                policy=form.cleaned_data["policy"],
                tag=form.cleaned_data["tag"],
            )
            return redirect("admin:imports_contactimport_job", pk=job.pk)
        context = _page(
            request,
            self,
            title="Upload a file of contacts",
            form=form,
            columns=sorted(KNOWN_COLUMNS),
            limits=FileLimits.from_settings().summary(),
        )
        return TemplateResponse(request, "admin/imports/contactimport/upload.html", context)

    def job_view(self, request: HttpRequest, pk) -> HttpResponse:
        self._may_import(request)
        job = get_object_or_404(ContactImport.objects.select_related("uploaded_by"), pk=pk)
        context = _page(
            request,
            self,
            title=f"Import of {job.file_name}",
            job=job,
            # The header's trail: Imports and exports › Imports › this file.
            original=job,
            refresh=job.in_progress,
            confirm_form=ConfirmForm(),
            **import_report(job),
        )
        return TemplateResponse(request, "admin/imports/contactimport/job.html", context)

    def confirm_view(self, request: HttpRequest, pk) -> HttpResponse:
        self._may_import(request)
        job = get_object_or_404(ContactImport, pk=pk)
        form = ConfirmForm(request.POST)
        valid_only = form.is_valid() and form.cleaned_data["mode"] == VALID_ONLY
        rejected = (job.check_report or {}).get("rejected_rows", 0)
        if rejected and not valid_only:
            messages.warning(
                request,
                f"All or nothing: {rejected:,} row{'s' if rejected != 1 else ''} cannot be "
                "imported, so nothing was. Download the rejected rows, fix them and upload "
                "the file again, or choose to import the valid rows only.",
            )
        elif confirm_import(job=job, confirmed_by=_staff(request), valid_rows_only=valid_only):
            messages.success(request, "Import confirmed: it runs in the background.")
        else:
            messages.warning(request, "This import was confirmed already, or cannot be confirmed.")
        return redirect("admin:imports_contactimport_job", pk=job.pk)

    def rejected_view(self, request: HttpRequest, pk) -> HttpResponseBase:
        self._may_import(request)
        job = get_object_or_404(ContactImport, pk=pk)
        if not job.rejected_file:
            raise Http404("This file has no rejected rows.")
        stem = job.file_name.rsplit(".", 1)[0] or "contacts"
        return FileResponse(
            job.rejected_file.open("rb"),
            as_attachment=True,
            filename=f"{stem}-rejected-rows.csv",
            content_type="text/csv; charset=utf-8",
        )


def import_report(job: ContactImport) -> dict[str, Any]:
    """What the job page shows: counts as a table, problems in words, the rows."""
    report = job.result or job.check_report
    preview = job.preview or {}
    file_problems = [
        f"{p['column']}: {p['message']}" if p["column"] else p["message"]
        for p in preview.get("file_problems", [])
    ]
    counts = None
    if report and report.get("rows"):
        verb = "were" if job.stage == Stage.DONE else "would be"
        counts = {
            "rows": [
                ["Rows in the file", f"{report['rows']:,}"],
                [f"New contacts that {verb} added", f"{report['new_contacts']:,}"],
                [f"Contacts that {verb} updated", f"{report['updated_contacts']:,}"],
                ["Consent events", f"{report['events']:,}"],
                [
                    "Kept as evidence only (older than a newer answer)",
                    f"{report['unapplied_events']:,}",
                ],
                ["Skipped (nothing new, or an erased person)", f"{report['skipped_rows']:,}"],
                ["Rejected (see the problems)", f"{report.get('rejected_rows', 0):,}"],
            ],
        }
    check = ImportReport.from_dict(job.check_report) if job.check_report else None
    rejected = (report or {}).get("rejected_rows", 0)
    importable = (check.rows - check.rejected_rows) if check else 0
    return {
        "report": report,
        "check": job.check_report,
        "counts": counts,
        "file_problems": file_problems,
        "rejected": rejected,
        "importable": importable,
        "summary": rejected_summary(report or {}),
        "preview": _preview_table(preview),
        "rejected_url": (
            reverse("admin:imports_contactimport_rejected", args=[job.pk])
            if job.rejected_file
            else ""
        ),
        "confirm_url": reverse("admin:imports_contactimport_confirm", args=[job.pk]),
        "upload_url": reverse("admin:imports_contactimport_upload"),
    }


def rejected_summary(report: dict[str, Any]) -> str:
    """One warning for every rejected row: "2 of 20 rows cannot be imported: …"."""
    rejected, rows = report.get("rejected_rows", 0), report.get("rows", 0)
    if not rejected:
        return ""
    noun = "row" if rows == 1 else "rows"
    return (
        f"{rejected:,} of {rows:,} {noun} cannot be imported; each one is listed below with "
        "the reason, and the rejected rows file has them all, ready to fix and upload again."
    )


def _preview_table(preview: dict[str, Any]) -> dict[str, Any] | None:
    if not preview.get("rows"):
        return None
    rows = []
    for row in preview["rows"]:
        problems = "; ".join(
            f"{p['column']}: {p['message']}" if p["column"] else p["message"]
            for p in row["problems"]
        )
        rows.append([str(row["row"]), *row["cells"], problems or "—"])
    # The file's own column names, as written (the theme capitalises plain headings).
    columns = [format_html("<code>{}</code>", name) for name in preview["header"]]
    return {"headers": ["Row", *columns, "Problem"], "rows": rows}


# --- Exports ------------------------------------------------------------------------


class ExportForm(forms.Form):
    file_format = forms.ChoiceField(
        label="Format",
        choices=ExportJob.Format.choices,
        initial=ExportJob.Format.XLSX,
        widget=UnfoldAdminRadioSelectWidget,
    )
    style = forms.ChoiceField(
        label="Values",
        choices=ExportJob.Style.choices,
        initial=ExportJob.Style.WORDS,
        widget=UnfoldAdminRadioSelectWidget,
    )


class LedgerExportForm(ExportForm):
    start = forms.DateField(
        label="From (inclusive)",
        widget=UnfoldAdminTextInputWidget(attrs={"type": "date"}),
    )
    end = forms.DateField(
        label="To (inclusive)", widget=UnfoldAdminTextInputWidget(attrs={"type": "date"})
    )

    field_order = ["start", "end", "file_format", "style"]

    def clean(self):
        data = cast(dict[str, Any], super().clean())  # Form.clean returns cleaned_data
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


@admin.register(ExportJob)
class ExportJobAdmin(ModelAdmin):
    """Each staff user's own exports: what they asked for, and the file when it is ready."""

    list_display = ["__str__", "status", "file_format", "style", "rows", "created_at"]
    list_filter = ["kind", "status"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExportJob]:
        return super().get_queryset(request).filter(requested_by=request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:imports_exportjob_job", pk=object_id)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("contacts/", wrap(self.contacts_view), name="imports_exportjob_contacts"),
            path("ledger/", wrap(self.ledger_view), name="imports_exportjob_ledger"),
            path("<uuid:pk>/progress/", wrap(self.job_view), name="imports_exportjob_job"),
            path("<uuid:pk>/download/", wrap(self.download_view), name="imports_exportjob_file"),
            *super().get_urls(),
        ]

    def contacts_view(self, request: HttpRequest) -> HttpResponse:
        """The contact list's one "Export" button: what the list shows (its filters, search
        and ordering, every page; the query comes with the link), in the format chosen."""
        if not request.user.has_perm("contacts.view_contact"):
            raise PermissionDenied
        filters = list_query(request.GET)
        try:
            with transaction.atomic():
                count = contacts_from_filters(filters, request.user).count()
        except (IncorrectLookupParameters, ValidationError, ValueError, DatabaseError) as exc:
            # A hand-edited link: the list itself would refuse it too (its "?e=1").
            names = ", ".join(sorted(set(request.GET))) or "the query"
            return HttpResponseBadRequest(f"The contact list cannot show this ({names}): {exc}")
        what = f"{count:,} contact{'' if count == 1 else 's'}"
        form = ExportForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            job = start_export(
                requested_by=_staff(request),
                kind=ExportJob.Kind.CONTACTS,
                file_format=form.cleaned_data["file_format"],
                style=form.cleaned_data["style"],
                selection={"filters": filters},
                description=f"{what}, as the list showed them"
                if filters
                else f"every contact ({what})",
            )
            return redirect("admin:imports_exportjob_job", pk=job.pk)
        back = reverse("admin:contacts_contact_changelist")
        context = _page(
            request,
            self,
            title=f"Export {what}",
            form=form,
            what=(
                f"The {what} the list shows, with its filters and search, in its order, "
                "every page; with their consent for each purpose."
                if filters
                else "Every contact, with their consent for each purpose."
            ),
            submit_label=f"Export {what}",
            back_url=f"{back}?{filters}" if filters else back,
            back_label="Back to the contacts",
        )
        return TemplateResponse(request, "admin/imports/exportjob/export.html", context)

    def ledger_view(self, request: HttpRequest) -> HttpResponse:
        """The ledger for a period, for auditors (needs the proof-export permission)."""
        if not request.user.has_perm(LEDGER_PERMISSION):
            raise PermissionDenied
        form = LedgerExportForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            job = start_export(
                requested_by=_staff(request),
                kind=ExportJob.Kind.LEDGER,
                file_format=form.cleaned_data["file_format"],
                style=form.cleaned_data["style"],
                selection={"start": start.isoformat(), "end": end.isoformat()},
                description=f"events from {day(start)} to {day(end)}",
            )
            return redirect("admin:imports_exportjob_job", pk=job.pk)
        context = _page(
            request,
            self,
            title="Export the consent ledger",
            form=form,
            what="Every ledger event that occurred in the period, with its chain hashes.",
            back_url=reverse("admin:consent_consentevent_changelist"),
            back_label="Back to the ledger",
        )
        return TemplateResponse(request, "admin/imports/exportjob/export.html", context)

    def _own(self, request: HttpRequest, pk) -> ExportJob:
        job = get_object_or_404(ExportJob.objects.select_related("requested_by"), pk=pk)
        if job.requested_by_id != request.user.pk:
            # Another person's export: as if it did not exist.
            raise Http404("No such export.")
        return job

    def job_view(self, request: HttpRequest, pk) -> HttpResponse:
        job = self._own(request, pk)
        context = _page(
            request,
            self,
            title=f"Export of {job.description}",
            job=job,
            original=job,
            refresh=job.in_progress,
            retention_days=settings.EXPORT_RETENTION_DAYS,
            download_url=(
                reverse("admin:imports_exportjob_file", args=[job.pk])
                if may_download(job, request.user)
                else ""
            ),
        )
        return TemplateResponse(request, "admin/imports/exportjob/job.html", context)

    def download_view(self, request: HttpRequest, pk) -> HttpResponseBase:
        job = self._own(request, pk)
        if job.status == ExportJob.Status.EXPIRED:
            return HttpResponseGone("This export expired: its file was deleted. Export again.")
        if not may_download(job, request.user):
            raise PermissionDenied
        return FileResponse(job.file.open("rb"), as_attachment=True, filename=job.file_name)


# The contact list's "Export selected contacts" action: a page to choose the format,
# then a job for exactly the selection (or, with "select all", the filtered list).
@admin.action(description="Export selected contacts", permissions=["view"])
def export_selected(modeladmin, request: HttpRequest, queryset) -> HttpResponseBase | None:
    form = ExportForm(request.POST if "file_format" in request.POST else None)
    across = request.POST.get("select_across") == "1"
    if form.is_valid():
        if across:
            selection: dict[str, Any] = {"filters": request.GET.urlencode()}
            description = "the contacts the filtered list shows"
        else:
            ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
            selection = {"ids": ids}
            description = f"{len(ids):,} selected contact{'s' if len(ids) != 1 else ''}"
        job = start_export(
            requested_by=_staff(request),
            kind=ExportJob.Kind.CONTACTS,
            file_format=form.cleaned_data["file_format"],
            style=form.cleaned_data["style"],
            selection=selection,
            description=description,
        )
        return redirect("admin:imports_exportjob_job", pk=job.pk)
    count = None if across else queryset.count()
    context = {
        **_page(request, admin.site.get_model_admin(ExportJob)),
        "title": "Export selected contacts",
        "form": form,
        "what": (
            "Every contact the filtered list shows."
            if across
            else f"The {count:,} contact{'s' if count != 1 else ''} you selected."
        ),
        "action_post": {
            "action": "export_selected",
            "select_across": "1" if across else "0",
            "index": request.POST.get("index", "0"),
        },
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "back_url": reverse("admin:contacts_contact_changelist"),
        "back_label": "Back to the contacts",
    }
    return TemplateResponse(request, "admin/imports/exportjob/export.html", context)


contribute_to_contact_admin(
    "imports",
    ContactAdminPart(
        actions=[export_selected],
        object_tools=[
            ObjectTool(
                "Import", "admin:imports_contactimport_upload", permission=IMPORT_PERMISSION
            ),
            ObjectTool(
                "Export",
                "admin:imports_exportjob_contacts",
                permission="contacts.view_contact",
                for_the_list=True,
            ),
        ],
    ),
)
