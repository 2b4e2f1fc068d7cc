"""Groups in the admin: invite, never add. Memberships and invitation statuses are read-only;
the one way in is the "Invite to a group" action on the contact list."""

from collections import Counter
from typing import TYPE_CHECKING, TypedDict, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.models import User
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline
from unfold.widgets import UnfoldAdminSelectWidget

from consent.labels import REASON_LABELS
from contacts.admin import ContactAdminPart, contribute_to_contact_admin
from contacts.models import Contact
from whatsapp.exceptions import WhatsAppError

from . import selectors, services, whatsapp_groups
from .models import Group, GroupInvitation, GroupMembership, InvitationStatus, LeaveSource
from .selectors import Eligibility

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _FunnelCounts(TypedDict):
    n_members: int
    n_sent: int
    n_accepted: int
    n_declined: int
    n_expired: int


class ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


INLINE_ROWS = 100


def _latest_of_group(request: HttpRequest, queryset: QuerySet, order: str) -> QuerySet:
    # A big group's page stays light: the inline shows the latest rows, the lists the rest.
    match = request.resolver_match
    group_id = match.kwargs.get("object_id") if match else None
    if not group_id:
        return queryset
    latest = queryset.model.objects.filter(group_id=group_id).order_by(order)
    return queryset.filter(pk__in=list(latest.values_list("pk", flat=True)[:INLINE_ROWS]))


class MembershipInline(ReadOnlyInline):
    model = GroupMembership
    fk_name = "group"
    fields = ["contact", "joined_at", "left_at", "left_source", "left_initiated_by", "invitation"]
    readonly_fields = fields
    verbose_name_plural = "members (each from an accepted invitation; latest 100)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).select_related("contact", "invitation")
        return _latest_of_group(request, queryset, "-joined_at")


class InvitationInline(ReadOnlyInline):
    model = GroupInvitation
    fields = ["contact", "status", "sent_at", "responded_at", "answer_source", "expires_at"]
    readonly_fields = fields
    verbose_name_plural = "invitations (latest 100)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).select_related("contact")
        return _latest_of_group(request, queryset, "-created_at")


def _invitations_count(**filters) -> Coalesce:
    # Subqueries rather than joins: several multi-valued joins would multiply the counts.
    rows = (
        GroupInvitation.objects.filter(group=OuterRef("pk"), **filters)
        .order_by()
        .values("group")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


def _funnel_counts() -> dict:
    members = (
        GroupMembership.objects.filter(group=OuterRef("pk"), left_at__isnull=True)
        .order_by()
        .values("group")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return {
        "n_members": Coalesce(Subquery(members), 0),
        "n_sent": _invitations_count(sent_at__isnull=False),
        "n_accepted": _invitations_count(status="accepted"),
        "n_declined": _invitations_count(status="declined"),
        "n_expired": _invitations_count(status="expired"),
    }


@admin.action(description="Create selected groups on WhatsApp (join by approval)")
def create_on_whatsapp(modeladmin, request, queryset):
    for group in queryset:
        try:
            whatsapp_groups.create_whatsapp_group(group=group, actor=request.user)
        except WhatsAppError as exc:
            modeladmin.message_user(request, f"{group}: {exc}", messages.ERROR)
    modeladmin.message_user(request, "Requested.", messages.SUCCESS)


@admin.action(description="Review pending WhatsApp join requests now")
def review_join_requests(modeladmin, request, queryset):
    for group in queryset.filter(whatsapp_group_id__isnull=False):
        try:
            decisions = whatsapp_groups.review_join_requests(group=group, actor=request.user)
        except WhatsAppError as exc:
            modeladmin.message_user(request, f"{group}: {exc}", messages.ERROR)
            continue
        approved = sum(d.approved for d in decisions)
        modeladmin.message_user(
            request,
            f"{group}: approved {approved}, rejected {len(decisions) - approved} join request(s).",
        )


@admin.register(Group)
class GroupAdmin(ModelAdmin):
    list_display = [
        "name",
        "purpose",
        "active",
        "capacity",
        "current_members",
        "sent",
        "accepted",
        "declined",
        "expired",
    ]
    list_filter = ["active", "purpose"]
    search_fields = ["name", "whatsapp_group_id"]
    readonly_fields = ["funnel", "whatsapp_request_id", "created_at", "updated_at"]
    fields = [
        "name",
        "description",
        "purpose",
        "capacity",
        "active",
        "whatsapp_group_id",
        "invite_link",
        "whatsapp_request_id",
        "funnel",
        "created_at",
        "updated_at",
    ]
    inlines = [MembershipInline, InvitationInline]
    actions = [create_on_whatsapp, review_join_requests]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(**_funnel_counts())

    def get_urls(self) -> list:
        skipped = self.admin_site.admin_view(skipped_invitations_view)
        return [
            path("not-invited/", skipped, name="groups_group_skipped_invitations"),
            *super().get_urls(),
        ]

    @admin.display(description="members", ordering="n_members")
    def current_members(self, group: "WithAnnotations[Group, _FunnelCounts]") -> int:
        return group.n_members

    @admin.display(description="sent", ordering="n_sent")
    def sent(self, group: "WithAnnotations[Group, _FunnelCounts]") -> int:
        return group.n_sent

    @admin.display(description="accepted", ordering="n_accepted")
    def accepted(self, group: "WithAnnotations[Group, _FunnelCounts]") -> int:
        return group.n_accepted

    @admin.display(description="declined", ordering="n_declined")
    def declined(self, group: "WithAnnotations[Group, _FunnelCounts]") -> int:
        return group.n_declined

    @admin.display(description="expired", ordering="n_expired")
    def expired(self, group: "WithAnnotations[Group, _FunnelCounts]") -> int:
        return group.n_expired

    @admin.display(description="invitation funnel")
    def funnel(self, group: Group) -> str:
        if not group.pk:
            return "-"
        counts = selectors.funnel(group)
        sent = counts["sent"] or 0
        return render_to_string(
            "admin/groups/funnel.html",
            {
                "stages": [
                    ("Invitations sent", sent, "invited"),
                    ("Accepted", counts["accepted"] or 0, "accepted"),
                    ("Declined", counts["declined"] or 0, "declined"),
                    ("Expired", counts["expired"] or 0, "expired"),
                    ("Revoked", counts["revoked"] or 0, "skipped"),
                    ("Pending", counts["pending"] or 0, "pending"),
                ],
                "rate": counts["accepted"] * 100 // sent if sent else None,
                "invitations_url": reverse("admin:groups_groupinvitation_changelist"),
                "members_url": reverse("admin:groups_groupmembership_changelist"),
                "group": group,
            },
        )


@admin.action(description="Revoke selected pending invitations", permissions=["change"])
def revoke_invitations(modeladmin, request, queryset):
    revoked = 0
    for invitation in queryset.filter(status=InvitationStatus.PENDING):
        services.revoke_invitation(invitation=invitation, actor=request.user)
        revoked += 1
    modeladmin.message_user(request, f"Revoked {revoked} invitation(s).", messages.SUCCESS)


@admin.action(description="Send the invitation message again", permissions=["change"])
def resend_invitations(modeladmin, request, queryset):
    for invitation in queryset.filter(status=InvitationStatus.PENDING).select_related(
        "group", "contact"
    ):
        services.resend_invitation(invitation=invitation, actor=request.user)
    modeladmin.message_user(request, "Sent.", messages.SUCCESS)


@admin.register(GroupInvitation)
class GroupInvitationAdmin(ModelAdmin):
    """Invitations are created by inviting (contact list action or API), answered by the
    invited person; staff can only look, revoke and resend."""

    list_display = [
        "contact",
        "group",
        "status",
        "sent_at",
        "responded_at",
        "answer_source",
        "expires_at",
    ]
    list_filter = ["status", "group", "answer_source", "invite_source"]
    search_fields = ["contact__name", "group__name", "answer_wamid", "message_wamid"]
    list_select_related = ["contact", "group"]
    actions = [revoke_invitations, resend_invitations]
    readonly_fields = [
        "answer_page",
        *(f.name for f in GroupInvitation._meta.fields if f.name != "token"),
    ]
    exclude = ["token"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="answer page (the link the person received)")
    def answer_page(self, invitation: GroupInvitation) -> str:
        if invitation.status != InvitationStatus.PENDING:
            return invitation.get_status_display()
        return format_html('<a href="{0}" rel="noreferrer">{0}</a>', invitation.accept_url)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.action(description="End selected memberships (the person left)", permissions=["change"])
def end_memberships(modeladmin, request, queryset):
    for membership in queryset.filter(left_at__isnull=True):
        services.leave_group(membership=membership, source=LeaveSource.ADMIN, actor=request.user)
    modeladmin.message_user(request, "Ended.", messages.SUCCESS)


@admin.register(GroupMembership)
class GroupMembershipAdmin(ModelAdmin):
    """No add form: a membership only comes from an accepted invitation."""

    list_display = [
        "contact",
        "group",
        "joined_at",
        "left_at",
        "left_source",
        "left_initiated_by",
        "invitation",
    ]
    list_filter = ["group", ("left_at", admin.EmptyFieldListFilter)]
    search_fields = ["contact__name", "group__name"]
    list_select_related = ["contact", "group", "invitation"]
    readonly_fields = [f.name for f in GroupMembership._meta.fields]
    actions = [end_memberships]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


# --- The contact list: "Invite selected contacts to a group" ------------------------


class InviteToGroupForm(forms.Form):
    group = forms.ModelChoiceField(
        queryset=Group.objects.filter(active=True), required=True, widget=UnfoldAdminSelectWidget
    )


# The contacts an invitation skipped, kept in the session for the page the summary links to.
SKIPPED_SESSION_KEY = "groups_invite_skipped"


def skipped_summary(skipped: list[Eligibility], total: int) -> str:
    """ "5 of 7 not invited: 3 opted out, 2 no consent" (most frequent first)."""
    reasons = Counter(_why_not(item) for item in skipped)
    parts = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    return f"{len(skipped)} of {total} not invited: {parts}"


# The group's own reasons, short enough to count ("2 already invited").
GROUP_REASONS = {
    "already_member": "already members",
    "contact_erased": "erased",
    "cooldown": "declined recently",
    "duplicate_pending": "already invited",
    "group_full": "group full",
    "group_inactive": "group not active",
    "unreachable": "no WhatsApp number",
}


def _why_not(item: Eligibility) -> str:
    if item.code in REASON_LABELS:
        return str(REASON_LABELS[item.code]).lower()
    return GROUP_REASONS.get(item.code, item.reason)


@admin.action(description="Invite selected contacts to a group", permissions=["invite"])
def invite_to_group(modeladmin, request, queryset):
    contacts = list(queryset)
    form = InviteToGroupForm(request.POST if "group" in request.POST else None)
    if not form.is_valid():
        return _invite_page(modeladmin, request, form, contacts, None, [], [])
    group = form.cleaned_data["group"]
    if "confirm" in request.POST:
        _invite(modeladmin, request, group, contacts)
        return None
    to_invite, skipped = selectors.invite_preview(group=group, contacts=contacts)
    return _invite_page(modeladmin, request, form, contacts, group, to_invite, skipped)


def _invite(modeladmin, request: HttpRequest, group: Group, contacts: list[Contact]) -> None:
    # The admin serves only signed-in staff users.
    staff = cast(User, request.user)
    result = services.invite_contacts(group=group, contacts=contacts, invited_by=staff)
    # Each skip's reason code, as the check gave it a moment ago (the service's result
    # says it in a sentence); a reason that changed since keeps its sentence.
    checked = {i.contact.pk: i for i in selectors.invite_preview(group=group, contacts=contacts)[1]}
    skipped = [
        checked.get(c.pk) or Eligibility(c, False, "", reason) for c, reason in result.skipped
    ]
    if result.invited:
        n = len(result.invited)
        modeladmin.message_user(
            request, f"Invited {n} contact{pluralize(n)} to {group}.", messages.SUCCESS
        )
    if skipped:
        # One warning for all of them (a real list skips hundreds), the list behind it.
        request.session[SKIPPED_SESSION_KEY] = {
            "group": group.name,
            "skipped": [[str(i.contact), i.reason] for i in skipped],
        }
        modeladmin.message_user(
            request,
            format_html(
                '{} — <a href="{}">see who and why</a>',
                skipped_summary(skipped, len(contacts)),
                reverse("admin:groups_group_skipped_invitations"),
            ),
            messages.WARNING,
        )


def _invite_page(modeladmin, request, form, contacts, group, to_invite, skipped):
    changelist = reverse("admin:contacts_contact_changelist")
    return TemplateResponse(
        request,
        "admin/groups/invite_contacts.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Invite contacts to a group",
            "crumbs": [("Contacts", changelist), ("Invite to a group", None)],
            "lead": (
                f"{len(contacts)} contact{pluralize(len(contacts))} selected. Nobody is added "
                "to a group: each person gets a WhatsApp invitation with Accept / Decline "
                "buttons and a link to an answer page, and becomes a member only by accepting."
            ),
            "opts": modeladmin.model._meta,
            "form": form if form.is_bound else InviteToGroupForm(),
            "group": group,
            "contacts": contacts,
            "to_invite": to_invite,
            "skipped": skipped,
            "invite_title": f"Will be invited to “{group}” ({len(to_invite)})" if group else "",
            "skip_title": f"Will be skipped ({len(skipped)})",
            "skipped_note": skipped_summary(skipped, len(contacts)) if skipped else "",
            "skipped_table": {
                "headers": ["Contact", "Why not"],
                "rows": [[str(item.contact), item.reason] for item in skipped],
            },
            "changelist_url": changelist,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected_ids": [str(c.pk) for c in contacts],
        },
    )


def skipped_invitations_view(request: HttpRequest) -> HttpResponse:
    """Who the last bulk invitation skipped, and why (the summary warning links here)."""
    kept = request.session.get(SKIPPED_SESSION_KEY) or {"group": "", "skipped": []}
    return TemplateResponse(
        request,
        "admin/groups/skipped_invitations.html",
        {
            **admin.site.each_context(request),
            "title": f"Not invited to {kept['group']}" if kept["group"] else "Not invited",
            "crumbs": [
                ("Contacts", reverse("admin:contacts_contact_changelist")),
                ("Not invited", None),
            ],
            "lead": f"{len(kept['skipped'])} contact{pluralize(len(kept['skipped']))} "
            "from your last invitation, with the reason each was skipped.",
            "table": {"headers": ["Contact", "Why not"], "rows": kept["skipped"]},
        },
    )


class InvitationsOfContactInline(ReadOnlyInline):
    model = GroupInvitation
    fields = ["group", "status", "sent_at", "responded_at", "answer_source", "expires_at"]
    readonly_fields = fields
    verbose_name_plural = "group invitations"


contribute_to_contact_admin(
    "groups",
    ContactAdminPart(
        inlines=[InvitationsOfContactInline],
        actions=[invite_to_group],
        action_permissions={"invite": "groups.add_groupinvitation"},
    ),
)
