from typing import cast

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from unfold.admin import ModelAdmin

from consent.labels import label, reason_label
from consent.models import Topic
from consent.rules import Status
from consent.selectors import Reason
from staff.paginator import EstimatedCountPaginator
from whatsapp.message_templates import languages_of, purpose_of, template_for

from .exceptions import CampaignNotDraft
from .forms import CampaignForm, number_label
from .models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Message,
    MessageStatus,
    ReminderSent,
    TemplateChangeNotice,
)
from .notices import dismiss_template_notice
from .progress import campaign_progress
from .selectors import (
    NO_WHATSAPP_ADDRESS,
    audience_states,
    campaign_opt_outs,
    campaigns_with_counts,
    counts_from_annotations,
    preview_campaign,
)
from .services import cancel_campaign, launch_campaign
from .template_changes import resume_campaign
from .templates_in_use import message_preview

# The campaign page lists this many messages; the Message list has them all.
INLINE_MESSAGES = 100


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def progress_panel(campaign: Campaign) -> dict:
    """One reading of a campaign for its page: the bar, the counts per status and the
    first messages come from the same moment, so they can never disagree."""
    progress = campaign_progress(campaign)
    messages_shown = list(
        Message.objects.filter(campaign=campaign)
        .select_related("contact")
        .order_by("pk")[:INLINE_MESSAGES]
    )
    opt_outs = campaign_opt_outs(campaign)
    return {
        **progress,
        "launched": _when_and_who(campaign.launched_at, campaign.launched_by),
        "finished": _when_and_who(campaign.finished_at, None),
        "opt_outs_table": {
            "headers": ["When", "Contact", "Purpose", "How", "Linked by"],
            "rows": [
                [
                    date_format(localtime(o.event.occurred_at), "DATETIME_FORMAT"),
                    str(o.event.contact),
                    o.event.get_purpose_display(),
                    o.event.get_source_display(),
                    "names this message" if o.how == "named" else "last message delivered",
                ]
                for o in opt_outs
            ],
        },
        "messages_table": _without_empty_columns(
            ["Contact", "Status", "Why not sent", "Sent", "Delivered", "Read", "Problem"],
            [_message_row(m) for m in messages_shown],
        ),
        "messages_shown": len(messages_shown),
        "messages_url": reverse("admin:campaigns_message_changelist")
        + f"?campaign__id__exact={campaign.pk}",
    }


def _without_empty_columns(headers: list[str], rows: list[list]) -> dict:
    """The theme's table without the columns no row fills ("Read" before anyone read)."""
    kept = [i for i in range(len(headers)) if i < 2 or any(row[i] for row in rows)]
    return {"headers": [headers[i] for i in kept], "rows": [[r[i] for i in kept] for r in rows]}


def _when_and_who(at, who) -> str:
    if at is None:
        return ""
    when = date_format(localtime(at), "DATETIME_FORMAT")
    return f"{when} by {who}" if who else when


def _message_row(message: Message) -> list:
    code = message.late_failure_code or message.error_code
    title = message.late_failure_title or message.error_title
    return [
        str(message.contact),
        message.get_status_display(),
        reason_label(message.skip_reason) if message.skip_reason else "",
        date_format(localtime(message.sent_at), "DATETIME_FORMAT") if message.sent_at else "",
        date_format(localtime(message.delivered_at), "DATETIME_FORMAT")
        if message.delivered_at
        else "",
        date_format(localtime(message.read_at), "DATETIME_FORMAT") if message.read_at else "",
        f"{title} ({code})" if code else "",
    ]


def skip_words(reason: str, topic: Topic | None = None) -> str:
    """Why a contact would not get the campaign, in words ("turned Offers off")."""
    if reason == NO_WHATSAPP_ADDRESS:
        return "No WhatsApp address"
    if topic is not None and reason == Reason.TOPIC_OPTED_OUT:
        return f"Turned {topic.name('en')} off"
    if topic is not None and reason == Reason.TOPIC_NO_CONSENT:
        return f"Never chose {topic.name('en')}"
    return str(reason_label(reason))


def audience_table(preview, topic: Topic | None = None) -> dict:
    """The preview's reasons as the theme's table: who would receive it now, and why not."""
    rows = [["Eligible", reason_label(r), n] for r, n in preview.eligible_reasons.items()]
    rows += [["Not eligible", skip_words(r, topic), n] for r, n in preview.ineligible.items()]
    return {"headers": ["Would receive it now?", "Reason", "Contacts"], "rows": rows}


def _launch(modeladmin: ModelAdmin, request: HttpRequest, campaign: Campaign) -> bool:
    try:
        launch_campaign(campaign=campaign, actor=request.user)
    except CampaignNotDraft as exc:
        modeladmin.message_user(request, f"{campaign}: {exc}", messages.ERROR)
        return False
    modeladmin.message_user(request, f"{campaign}: launched; sending starts now.")
    return True


@admin.action(description="Preview audience (eligible / ineligible)")
def preview_selected(modeladmin, request, queryset):
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select one campaign to preview.", messages.WARNING)
        return None
    return HttpResponseRedirect(
        reverse("admin:campaigns_campaign_preview", args=[queryset.get().pk])
    )


@admin.action(description="Launch selected campaigns", permissions=["launch"])
def launch_selected(modeladmin, request, queryset):
    for campaign in queryset:
        _launch(modeladmin, request, campaign)


@admin.action(
    description="Cancel selected campaigns (what is still queued is not sent)",
    permissions=["launch"],
)
def cancel_selected(modeladmin, request, queryset):
    for campaign in queryset:
        skipped = cancel_campaign(campaign=campaign, actor=request.user)
        modeladmin.message_user(request, f"{campaign}: {campaign.status}; {skipped} not sent.")


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    form = CampaignForm
    # One drawn column for the messages: eight count columns overflowed 1366 px.
    list_display = ["name", "kind", "purpose", "status", "launched_at", "progress", "why_paused"]
    list_filter = ["status", "kind", "purpose"]
    search_fields = ["name", "template_name"]
    # A plain multiple select: Django's two-box filter widget fails axe-core (aria, contrast).
    filter_horizontal: list[str] = []
    actions = [preview_selected, launch_selected, cancel_selected]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "kind", "purpose", "topic", "sending_number"]}),
        (
            "Message",
            {
                "fields": [
                    "template_name",
                    "template_language",
                    "approved_languages",
                    "body_params_text",
                    "what_they_read",
                ],
                # console.js hides it while the kind is re-consent (no template there).
                "classes": ["campaign-template-fields"],
            },
        ),
        (
            "Audience",
            {"fields": ["audience_tags", "audience_attributes_text", "audience_states"]},
        ),
    ]
    # Status, launch, finish and opt-outs are in the progress panel, read with the counts.
    results_fieldsets = [("Record", {"fields": ["created_by", "created_at"]})]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return campaigns_with_counts(super().get_queryset(request))

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None) -> list:
        if obj is None or obj.status == CampaignStatus.DRAFT:
            fieldsets = self.fieldsets
            if obj is not None and obj.kind == CampaignKind.RECONSENT:
                fieldsets = [f for f in fieldsets if f[0] != "Message"]
            return fieldsets
        # A launched campaign is shown as stored: the edit-only text fields do not apply,
        # nor the template's to a re-consent campaign; its messages are in the panel above.
        message = (
            "Message",
            {
                "fields": [
                    "template_name",
                    "template_language",
                    "template_languages",
                    "parameters",
                    "template_now",
                    "what_they_read",
                ]
            },
        )
        return [
            (None, {"fields": ["name", "kind", "purpose", "sent_to_topic", "sent_from"]}),
            *([message] if obj.kind != CampaignKind.RECONSENT else []),
            ("Audience", {"fields": ["audience_tags", "attributes", "states"]}),
            *self.results_fieldsets,
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list:
        return [
            "status",
            "created_by",
            "created_at",
            "launched_by",
            "launched_at",
            "finished_at",
            "parameters",
            "attributes",
            "states",
            "approved_languages",
            "what_they_read",
            "template_now",
            "sent_from",
            "sent_to_topic",
        ]

    @admin.display(description="sent from")
    def sent_from(self, campaign: Campaign) -> str:
        if campaign.sending_number is not None:
            return number_label(campaign.sending_number)
        return f"the business default ({campaign.phone_number_id or 'not configured'})"

    @admin.display(description="why paused")
    def why_paused(self, campaign: Campaign) -> str:
        return campaign.paused_reason if campaign.status == CampaignStatus.PAUSED else ""

    @admin.display(description="also approved in")
    def approved_languages(self, campaign: Campaign) -> str:
        if not campaign.template_name:
            return "chosen from the registry once the template is saved"
        languages = languages_of(campaign.template_name)
        return ", ".join(languages) or "not approved in any language"

    @admin.display(description="what a person reads")
    def what_they_read(self, campaign: Campaign) -> str:
        preview = message_preview(campaign)
        if preview is None:
            return "—"
        return format_html('<blockquote class="campaign-message-preview">{}</blockquote>', preview)

    @admin.display(description="template now")
    def template_now(self, campaign: Campaign) -> str:
        template = template_for(campaign.template_name, campaign.template_language)
        if template is None:
            return "not in the registry"
        purpose = purpose_of(template.category) or "unknown"
        return f"{template.category} ({purpose} consent), {template.status}"

    @admin.display(description="template body parameters")
    def parameters(self, campaign: Campaign) -> str:
        return (
            format_html_join(
                ", ", "{{{{{}}}}} = {}", ((n, p) for n, p in enumerate(campaign.body_params, 1))
            )
            or "none"
        )

    @admin.display(description="audience attributes")
    def attributes(self, campaign: Campaign) -> str:
        pairs = sorted((campaign.audience_attributes or {}).items())
        return ", ".join(f"{k} = {v}" for k, v in pairs) or "any"

    @admin.display(description="topic")
    def sent_to_topic(self, campaign: Campaign) -> str:
        if campaign.topic is None:
            return f"none: everyone {campaign.get_purpose_display().lower()} consent allows"
        return f"{campaign.topic.name('en')}: only those who chose it"

    @admin.display(description="audience consent states")
    def states(self, campaign: Campaign) -> str:
        return ", ".join(label("status", s) for s in audience_states(campaign)) or "any state"

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        # Once launched, a campaign is a record of what was sent: view only.
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def has_launch_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.launch_campaign")

    def get_urls(self) -> list:
        preview = self.admin_site.admin_view(self.preview_view)
        progress = self.admin_site.admin_view(self.progress_view)
        panel = self.admin_site.admin_view(self.progress_panel_view)
        resume = self.admin_site.admin_view(self.resume_view)
        dismiss = self.admin_site.admin_view(self.dismiss_notice_view)
        return [
            path(
                "notices/<int:pk>/dismiss/",
                dismiss,
                name="campaigns_templatechangenotice_dismiss",
            ),
            path("<uuid:object_id>/progress/", panel, name="campaigns_campaign_progress_panel"),
            path("<uuid:object_id>/resume/", resume, name="campaigns_campaign_resume"),
            path("<path:object_id>/preview/", preview, name="campaigns_campaign_preview"),
            path("<uuid:object_id>/progress.json", progress, name="campaigns_campaign_progress"),
            *super().get_urls(),
        ]

    def dismiss_notice_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        notice = get_object_or_404(TemplateChangeNotice, pk=pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("campaigns.change_campaign"):
            raise PermissionDenied
        dismiss_template_notice(notice=notice, actor=request.user)
        return HttpResponseRedirect(reverse("admin:index"))

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_launch_permission(request):
            raise PermissionDenied
        if resume_campaign(campaign=campaign, actor=request.user):
            self.message_user(request, f"{campaign}: resumed; what waited is being sent.")
        else:
            self.message_user(request, f"{campaign}: not paused.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        campaign = get_object_or_404(Campaign, pk=object_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        return JsonResponse(campaign_progress(campaign))

    def progress_panel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The progress panel alone, as the campaign page refreshes it while it sends."""
        campaign = get_object_or_404(Campaign, pk=object_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        progress = progress_panel(campaign)
        response = HttpResponse(
            render_to_string(
                "admin/campaigns/campaign/progress_panel.html",
                {"progress": progress, "original": campaign},
                request=request,
            )
        )
        response["X-Campaign-Live"] = "true" if progress["live"] else "false"
        return response

    def save_model(self, request: HttpRequest, obj: Campaign, form, change: bool) -> None:
        if not change:
            # The admin site serves only authenticated staff users.
            obj.created_by = cast(User, request.user)
        super().save_model(request, obj, form, change)
        if obj.kind == CampaignKind.RECONSENT and Status.OPTED_IN in audience_states(obj):
            self.message_user(
                request,
                "This re-consent campaign includes opted-in contacts: they would be asked "
                "again for consent they already gave.",
                messages.WARNING,
            )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            context["progress"] = progress_panel(obj)
            context["can_resume"] = self.has_launch_permission(request)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        if request.method == "POST":
            if not self.has_launch_permission(request):
                raise PermissionDenied
            _launch(self, request, campaign)
            return HttpResponseRedirect(change_url)
        preview = preview_campaign(campaign=campaign)
        needs = f"{campaign.get_purpose_display().lower()} consent"
        if campaign.topic is not None:
            needs += f" and to have chosen {campaign.topic.name('en')}"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Preview and launch: {campaign}",
            "crumbs": [
                (
                    self.opts.verbose_name_plural.capitalize(),
                    reverse("admin:campaigns_campaign_changelist"),
                ),
                (str(campaign), change_url),
                ("Preview and launch", None),
            ],
            "lead": (
                f"{campaign.get_kind_display()} campaign, {campaign.get_status_display().lower()}; "
                f"every recipient needs {needs}; sent from "
                f"{self.sent_from(campaign)}. These figures are as of now."
            ),
            "campaign": campaign,
            "preview": preview,
            "audience_title": (
                f"Audience: {preview.total} contact{pluralize(preview.total)} "
                f"match{pluralize(preview.total, 'es,')} the filter"
            ),
            "audience_table": audience_table(preview, campaign.topic),
            "message_preview": message_preview(campaign),
            "is_reconsent": campaign.kind == CampaignKind.RECONSENT,
            "audience_states": audience_states(campaign),
            "can_launch": campaign.status == CampaignStatus.DRAFT
            and self.has_launch_permission(request),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/preview.html", context)

    @admin.display(description="messages")
    def progress(self, campaign: Campaign) -> str:
        return render_to_string(
            "admin/campaigns/campaign/list_progress.html",
            {"counts": counts_from_annotations(campaign)},
        )


def _count_column(status: str):
    def column(self, campaign: Campaign) -> int:
        return counts_from_annotations(campaign)[status]

    column.__name__ = f"{status}_count"
    return admin.display(description=status, ordering=f"count_{status}")(column)


for _status in MessageStatus.values:
    setattr(CampaignAdmin, f"{_status}_count", _count_column(_status))


@admin.register(Message)
class MessageAdmin(ReadOnlyMixin, ModelAdmin):
    list_display = [
        "campaign",
        "contact",
        "status",
        "skip_reason",
        "error_code",
        "sent_at",
        "delivered_at",
        "read_at",
        "late_failure_code",
    ]
    list_filter = ["status", "skip_reason", "late_failure_code", "campaign"]
    search_fields = ["wamid", "campaign__name"]
    list_select_related = ["campaign", "contact"]
    raw_id_fields = ["contact"]
    # A campaign has up to a million messages: newest first by the primary key (the
    # model's campaign-then-id order sorts them all), and the total estimated.
    ordering = ["-id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(ReminderSent)
class ReminderSentAdmin(ReadOnlyMixin, ModelAdmin):
    list_display = ["contact", "policy", "offset", "purposes", "status", "sent_at", "created_at"]
    list_filter = ["status", "offset", "policy"]
    search_fields = ["wamid"]
    list_select_related = ["contact", "policy"]
