from typing import TYPE_CHECKING, cast
from uuid import UUID

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin

from contacts.admin import ContactAdminPart, ObjectTool, contribute_to_contact_admin
from contacts.models import Contact
from contacts.services import erase_person
from core.admin import ReadOnlyAdminMixin
from staff.admin import describe_audited
from staff.paginator import EstimatedCountPaginator

from ..exceptions import ConsentError
from ..models import (
    ConsentEvent,
    ConsentEvidence,
    ConsentNotice,
    ConsentState,
    LedgerSeal,
    ReconsentPolicy,
)
from ..proof import proof_bundle
from ..rules import Action, Purpose, Source, Status
from ..services import Evidence, publish_notice, record_consent
from .contact import consent_panel, contact_action_urls, staff_note
from .forms import ReconsentPolicyForm, describe_offsets
from .review import extend_deadline

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _staff(request: HttpRequest) -> User:
    # The admin site serves only authenticated staff users.
    return cast(User, request.user)


def consent_state_filter(purpose: Purpose) -> type[admin.SimpleListFilter]:
    class ConsentStateFilter(admin.SimpleListFilter):
        title = f"{purpose.label.lower()} consent"
        parameter_name = f"{purpose.value}_consent"

        def lookups(self, request, model_admin):
            return Status.choices

        def queryset(self, request, queryset):
            value = self.value()
            if not value:
                return queryset
            # (NOT) EXISTS probes the (contact, purpose) index per listed contact; a NOT IN
            # over 700k ids outgrows work_mem and PostgreSQL plans a quadratic scan.
            states = ConsentState.objects.filter(contact=OuterRef("pk"), purpose=purpose)
            if value == Status.NONE:
                return queryset.filter(~Exists(states.exclude(status=Status.NONE)))
            return queryset.filter(Exists(states.filter(status=value)))

    ConsentStateFilter.__name__ = f"{purpose.value.title()}ConsentFilter"
    return ConsentStateFilter


def _record_opt_out(modeladmin, request: HttpRequest, queryset: QuerySet, purposes: list[str]):
    recorded = failed = 0
    for contact in queryset:
        for purpose in purposes:
            try:
                with transaction.atomic():
                    record_consent(
                        contact=contact,
                        purpose=purpose,
                        action=Action.WITHDRAW,
                        source=Source.ADMIN,
                        actor=_staff(request),
                        evidence=Evidence(note="opt-out recorded in the admin"),
                        audited=True,
                    )
                recorded += 1
            except ConsentError as exc:
                failed += 1
                modeladmin.message_user(request, f"{contact}: {exc}", messages.ERROR)
    modeladmin.message_user(request, f"Recorded {recorded} opt-out(s).", messages.SUCCESS)


@admin.action(
    description="Erase selected contacts (GDPR art. 17; the ledger is kept)", permissions=["erase"]
)
def erase_selected(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    count = 0
    for contact in queryset.filter(erased_at__isnull=True):
        erase_person(contact=contact, erased_by=request.user.get_username(), actor=_staff(request))
        count += 1
    modeladmin.message_user(request, f"Erased {count} contact(s).", messages.SUCCESS)


@admin.action(description="Record opt-out of marketing", permissions=["change"])
def record_marketing_opt_out(modeladmin, request, queryset):
    _record_opt_out(modeladmin, request, queryset, [Purpose.MARKETING])


@admin.action(description="Record opt-out of all purposes", permissions=["change"])
def record_full_opt_out(modeladmin, request, queryset):
    _record_opt_out(modeladmin, request, queryset, list(Purpose.values))


def proof_urls(contact_admin: admin.ModelAdmin) -> list[URLPattern]:
    return [
        path(
            "<uuid:pk>/proof-bundle/",
            contact_admin.admin_site.admin_view(proof_bundle_view),
            name="contacts_contact_proof_bundle",
        )
    ]


def proof_bundle_view(request: HttpRequest, pk) -> JsonResponse:
    """The contact's proof bundle as a download (scripts/verify_proof.py checks it)."""
    if not request.user.has_perm("consent.export_proof"):
        raise PermissionDenied
    contact = get_object_or_404(Contact, pk=pk)
    response = JsonResponse(proof_bundle(contact), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="proof-{contact.pk}.json"'
    return response


def _status(contact: Contact, purpose: str) -> "StrOrPromise":
    for state in contact.consent_states.all():
        if state.purpose == purpose:
            return state.get_status_display()
    return Status.NONE.label


@admin.display(description="marketing")
def marketing_status(contact: Contact) -> "StrOrPromise":
    return _status(contact, Purpose.MARKETING)


@admin.display(description="service")
def service_status(contact: Contact) -> "StrOrPromise":
    return _status(contact, Purpose.SERVICE)


contribute_to_contact_admin(
    "consent",
    ContactAdminPart(
        # State and timeline are drawn above the form (consent_panel), not as inlines.
        actions=[
            record_marketing_opt_out,
            record_full_opt_out,
            erase_selected,
        ],
        list_display=[marketing_status, service_status],
        list_filter=[consent_state_filter(p) for p in Purpose],
        prefetch_related=["consent_states"],
        urls=lambda model_admin: [
            *contact_action_urls(model_admin),
            *proof_urls(model_admin),
        ],
        panels=[consent_panel],
        change_tools=[
            ObjectTool(
                "Proof of consent (JSON)",
                "admin:contacts_contact_proof_bundle",
                permission="consent.export_proof",
            )
        ],
    ),
)


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    # With a link to the ledger's export for a period (the imports app makes exports).
    change_list_template = "admin/consent/consentevent_change_list.html"
    list_display = [
        "occurred_at",
        "contact",
        "purpose",
        "topic",
        "action",
        "source",
        "notice",
        "status_after",
        "applied",
    ]
    list_filter = ["purpose", "action", "source", "applied", "occurred_at"]
    # No date_hierarchy: its year/month links read every event's date.
    search_fields = ["contact__name", "wamid", "idempotency_key"]
    list_select_related = ["contact", "notice__topic"]
    # Newest first by the indexed time shown in the first column.
    ordering = ["-occurred_at"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # The event page: what happened, who did it and what they wrote; empty fields hidden.
    EVENT_FIELDS = [
        "contact",
        "seq",
        "purpose",
        "topic",
        "action",
        "source",
        "status_after",
        "applied",
        "occurred_at",
        "recorded_at",
        "notice",
        "expires_at",
        "paused_until",
        "acting_user",
        "reason_or_note",
        "wamid",
        "prompted_by",
        "idempotency_key",
        "system_context",
        "prev_hash",
        "hash",
        "evidence_digest",
    ]

    def get_fields(self, request: HttpRequest, obj: ConsentEvent | None = None):
        if obj is None:
            return self.EVENT_FIELDS
        return [f for f in self.EVENT_FIELDS if self._shown(obj, f)]

    def get_readonly_fields(self, request: HttpRequest, obj: ConsentEvent | None = None):
        return self.EVENT_FIELDS

    def _shown(self, event: ConsentEvent, name: str) -> bool:
        value = getattr(self, name)(event) if hasattr(self, name) else getattr(event, name)
        return value not in (None, "", {}, [])

    @admin.display(description="by (staff user)")
    def acting_user(self, event: ConsentEvent) -> str:
        return str(event.actor) if event.actor else ""

    @admin.display(description="reason or note")
    def reason_or_note(self, event: ConsentEvent) -> str:
        return staff_note(event)

    @admin.display(description="prompted by WhatsApp message")
    def prompted_by(self, event: ConsentEvent) -> str:
        return event.prompted_by_wamid

    @admin.display(description="system context")
    def system_context(self, event: ConsentEvent) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(event.context.items()))


_SEAL_FIELDS = ("seq", "sealed_on", "sealed_at", "chains", "events", "root", "prev_hash", "hash")


@admin.register(LedgerSeal)
class LedgerSealAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The daily seals, as `export_seal` prints them for publication; append-only."""

    list_display = ["seq", "sealed_on", "chains", "events", "root", "hash"]
    fields = _SEAL_FIELDS
    readonly_fields = _SEAL_FIELDS


@admin.action(
    description="Publish selected notices (they can no longer change)", permissions=["publish"]
)
def publish_notices(modeladmin, request, queryset):
    for notice in queryset.filter(published_at__isnull=True):
        publish_notice(notice=notice, actor=request.user)
    modeladmin.message_user(request, "Published.", messages.SUCCESS)


@admin.register(ConsentNotice)
class ConsentNoticeAdmin(ModelAdmin):
    list_display = ["ref", "purpose", "topic", "language", "version", "published_at"]
    list_filter = [
        "purpose",
        "language",
        ("topic", admin.RelatedOnlyFieldListFilter),
        ("published_at", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["topic"]
    actions = [publish_notices]

    class Media:
        # The versions side by side; a stylesheet, as the CSP allows no inline style.
        css = {"all": ["consent/admin.css"]}

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("consent.publish_consentnotice")

    readonly_fields = ["published_at", "created_at", "versions_side_by_side"]

    def get_readonly_fields(self, request: HttpRequest, obj: ConsentNotice | None = None):
        if obj is not None and obj.is_published:
            return ["purpose", "topic", "language", "version", "text", *self.readonly_fields]
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: ConsentNotice | None = None):
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="all versions")
    def versions_side_by_side(self, notice: ConsentNotice) -> str:
        if not notice.pk:
            return "-"
        versions = ConsentNotice.objects.filter(
            purpose=notice.purpose, topic=notice.topic_id, language=notice.language
        ).order_by("version")
        head = format_html_join(
            "",
            "<th>v{} {}</th>",
            ((v.version, "(published)" if v.is_published else "(draft)") for v in versions),
        )
        cells = format_html_join(
            "",
            "<td>{}</td>",
            ((v.text,) for v in versions),
        )
        return format_html(
            '<table class="notice-versions"><tr>{}</tr><tr>{}</tr></table>', head, cells
        )


@admin.register(ReconsentPolicy)
class ReconsentPolicyAdmin(ModelAdmin):
    form = ReconsentPolicyForm
    list_display = ["name", "deadline", "reminders", "active"]
    list_filter = ["active"]
    actions = [extend_deadline]

    @admin.display(description="reminders")
    def reminders(self, policy: ReconsentPolicy) -> str:
        return describe_offsets(policy.reminder_offsets)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        # A deadline moves only through the recorded extension (legacy consent follows it).
        return ["deadline"] if obj is not None else []


def _event_notes(ids: list[str]) -> dict[str, str]:
    """The staff audit list's words beside a consent event: the reason typed with it."""
    notes = ConsentEvidence.objects.filter(event_id__in=[UUID(i) for i in ids]).exclude(note="")
    return {
        str(event_id): f"reason: {note}" for event_id, note in notes.values_list("event_id", "note")
    }


describe_audited(ConsentEvent._meta.label, _event_notes)
