"""Admin pages for importing contacts (a background job with progress) and for exports.

Upload -> the check (a dry run in the worker) with its report and a preview of
the rows, problems inline -> confirm once -> the import in the worker -> result.
Pages in progress refresh themselves (no script: the CSP allows none inline).
"""

from __future__ import annotations

import tempfile
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from .exports import contact_rows, csv_lines, ledger_rows, write_xlsx
from .importing.columns import KNOWN_COLUMNS
from .importing.jobs import confirm_import, start_import
from .importing.limits import FileLimits, size_in_words
from .importing.uploads import upload_refused
from .models import ContactImport, ReconsentPolicy

if TYPE_CHECKING:
    _ModelAdminMixinBase = admin.ModelAdmin
else:
    _ModelAdminMixinBase = object


def _staff(request: HttpRequest) -> User:
    # The admin site serves only authenticated staff users.
    return cast(User, request.user)


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
            # The upload was dropped as it arrived (consent.importing.uploads): say why.
            self.fields["file"].error_messages["required"] = self.limits.file_too_large()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.limits.file_bytes:
            raise forms.ValidationError(self.limits.file_too_large(upload.size))
        if not upload.name.lower().endswith((".csv", ".xlsx", ".txt")):
            raise forms.ValidationError("Upload a .csv or .xlsx file.")
        return upload


def _export_response(rows, name: str, file_format: str) -> HttpResponseBase:
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    if file_format == "xlsx":
        # A workbook is a zip: written row by row to a temporary file, then streamed.
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
        write_xlsx(rows, spool, title=name)
        spool.seek(0)
        return FileResponse(spool, as_attachment=True, filename=f"{name}-{stamp}.xlsx")
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


IMPORT_PERMISSION = "consent.add_contactimport"


# The contact list's "Export selected" actions: the selection (or, with "select all",
# the whole filtered list), one action per format.
@admin.action(description="Export selected contacts as CSV", permissions=["view"])
def export_selected_csv(modeladmin, request: HttpRequest, queryset) -> HttpResponseBase:
    return _export_response(contact_rows(queryset), "contacts", "csv")


@admin.action(description="Export selected contacts as XLSX", permissions=["view"])
def export_selected_xlsx(modeladmin, request: HttpRequest, queryset) -> HttpResponseBase:
    return _export_response(contact_rows(queryset), "contacts", "xlsx")


def contact_import_urls(contact_admin: admin.ModelAdmin) -> list[URLPattern]:
    """Import and export under the contact list's URLs (where they always were)."""
    return ContactImportPages(contact_admin).urls()


class ContactImportPages:
    def __init__(self, contact_admin: admin.ModelAdmin) -> None:
        self.contact_admin = contact_admin
        self.admin_site = contact_admin.admin_site
        self.model = contact_admin.model

    def urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="contacts_contact_import"),
            path(
                "import/<uuid:pk>/", wrap(self.import_job_view), name="contacts_contact_import_job"
            ),
            path(
                "import/<uuid:pk>/confirm/",
                wrap(require_POST(self.import_confirm_view)),
                name="contacts_contact_import_confirm",
            ),
            path("export/", wrap(self.export_view), name="contacts_contact_export"),
        ]

    def _may_import(self, request: HttpRequest) -> None:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied

    def import_view(self, request: HttpRequest) -> HttpResponse:
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
            return redirect("admin:contacts_contact_import_job", pk=job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import contacts",
            "opts": self.model._meta,
            "form": form,
            "columns": sorted(KNOWN_COLUMNS),
            "limits": FileLimits.from_settings().summary(),
            "recent": ContactImport.objects.select_related("uploaded_by")[:10],
        }
        return TemplateResponse(request, "admin/consent/contactimport/upload.html", context)

    def import_job_view(self, request: HttpRequest, pk) -> HttpResponse:
        self._may_import(request)
        job = get_object_or_404(ContactImport.objects.select_related("uploaded_by"), pk=pk)
        report = job.result or job.check_report
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import of {job.file_name}",
            "opts": self.model._meta,
            "job": job,
            "report": report,
            "check": job.check_report,
            "preview": job.preview,
            # Why the file as a whole was refused (a limit, not UTF-8, no phone column).
            "file_problems": [
                f"{p['column']}: {p['message']}" if p["column"] else p["message"]
                for p in (job.preview or {}).get("file_problems", [])
            ],
            "refresh": job.in_progress,
            "confirm_url": reverse("admin:contacts_contact_import_confirm", args=[job.pk]),
        }
        return TemplateResponse(request, "admin/consent/contactimport/job.html", context)

    def import_confirm_view(self, request: HttpRequest, pk) -> HttpResponse:
        self._may_import(request)
        job = get_object_or_404(ContactImport, pk=pk)
        if confirm_import(job=job, confirmed_by=_staff(request)):
            messages.success(request, "Import confirmed: it runs in the background.")
        else:
            messages.warning(request, "This import was confirmed already, or cannot be confirmed.")
        return redirect("admin:contacts_contact_import_job", pk=job.pk)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.contact_admin.has_view_permission(request):
            raise PermissionDenied
        file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
        return _export_response(contact_rows(), "contacts", file_format)


class LedgerExportForm(forms.Form):
    start = forms.DateField(
        label="From (inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(choices=[("csv", "CSV"), ("xlsx", "XLSX")])

    def clean(self):
        data = cast(dict[str, Any], super().clean())  # Form.clean returns cleaned_data
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


class LedgerExportAdminMixin(_ModelAdminMixinBase):
    """The ledger for a period, for auditors (needs the proof-export permission)."""

    change_list_template = "admin/consent/consentevent_change_list.html"

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.ledger_export_view),
                name="consent_consentevent_export",
            ),
            *super().get_urls(),
        ]

    def ledger_export_view(self, request: HttpRequest) -> HttpResponseBase:
        if not request.user.has_perm("consent.export_proof"):
            raise PermissionDenied
        form = LedgerExportForm(request.GET or None)
        if form.is_valid():
            zone = timezone.get_current_timezone()
            start = datetime.combine(form.cleaned_data["start"], time(), tzinfo=zone)
            end = datetime.combine(
                form.cleaned_data["end"] + timedelta(days=1), time(), tzinfo=zone
            )
            name = f"ledger-{form.cleaned_data['start']:%Y%m%d}-{form.cleaned_data['end']:%Y%m%d}"
            return _export_response(ledger_rows(start, end), name, form.cleaned_data["format"])
        context = {
            **self.admin_site.each_context(request),
            "title": "Export the consent ledger",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/consent/consentevent/export.html", context)


@admin.register(ContactImport)
class ContactImportAdmin(ModelAdmin):
    list_display = ["file_name", "stage", "uploaded_by", "created_at", "finished_at"]
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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:contacts_contact_import_job", pk=object_id)
