"""The conversation in the admin: the keyword lists, the free-text opt-out review queue, and
the contact page's "send the preference link" button."""

from typing import cast

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin

from contacts.admin import ContactAdminPart, contribute_to_contact_admin
from contacts.models import Contact
from whatsapp.exceptions import WhatsAppError

from .contact_request import NumberNotAsked, ask_for_number, may_ask_for_number, number_requests
from .keywords import decide_review
from .models import ConsentKeyword, OptOutReview
from .outreach import LinkNotSent, send_preference_link


def _staff(request: HttpRequest) -> User:
    # The admin site serves only authenticated staff users.
    return cast(User, request.user)


# --- WhatsApp keywords and the free-text opt-out review queue --------------------------


@admin.register(ConsentKeyword)
class ConsentKeywordAdmin(ModelAdmin):
    list_display = ["phrase", "language", "meaning", "active"]
    list_filter = ["meaning", "language", "active"]
    search_fields = ["phrase"]


def _decide_reviews(modeladmin, request: HttpRequest, queryset: QuerySet, opt_out: bool) -> None:
    for review in queryset.filter(decision=OptOutReview.Decision.PENDING):
        decide_review(review=review, opt_out=opt_out, actor=_staff(request))
    modeladmin.message_user(request, "Decision recorded.", messages.SUCCESS)


@admin.action(description="It is an opt-out: withdraw marketing", permissions=["change"])
def confirm_opt_out(modeladmin, request, queryset):
    _decide_reviews(modeladmin, request, queryset, opt_out=True)


@admin.action(description="Not an opt-out: dismiss", permissions=["change"])
def dismiss_opt_out(modeladmin, request, queryset):
    _decide_reviews(modeladmin, request, queryset, opt_out=False)


@admin.register(OptOutReview)
class OptOutReviewAdmin(ModelAdmin):
    list_display = ["received_at", "contact", "text", "matched", "decision", "decided_by"]
    list_filter = ["decision", "received_at"]
    search_fields = ["text", "wamid"]
    list_select_related = ["contact", "decided_by"]
    actions = [confirm_opt_out, dismiss_opt_out]
    readonly_fields = [
        "contact",
        "wamid",
        "prompted_by_wamid",
        "text",
        "matched",
        "received_at",
        "decision",
        "decided_by",
        "decided_at",
        "event",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


# --- The contact page ------------------------------------------------------------------


def send_link_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    @require_POST
    def send_link(request: HttpRequest, pk: str) -> HttpResponse:
        contact = get_object_or_404(Contact, pk=pk)
        if not request.user.has_perm("contacts.change_contact"):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[contact.pk]))
        try:
            send_preference_link(contact=contact, actor=_staff(request))
        except (LinkNotSent, WhatsAppError) as exc:
            model_admin.message_user(request, f"Link not sent: {exc}", messages.ERROR)
            return back
        model_admin.message_user(request, "Preference link queued on WhatsApp.", messages.SUCCESS)
        return back

    @require_POST
    def ask_number(request: HttpRequest, pk: str) -> HttpResponse:
        contact = get_object_or_404(Contact, pk=pk)
        if not request.user.has_perm("contacts.change_contact"):
            raise PermissionDenied
        try:
            ask_for_number(contact=contact, actor=_staff(request))
        except (NumberNotAsked, WhatsAppError) as exc:
            model_admin.message_user(request, f"Not asked: {exc}", messages.ERROR)
        else:
            model_admin.message_user(request, "Asked on WhatsApp for their number.")
        return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[contact.pk]))

    wrap = model_admin.admin_site.admin_view
    return [
        path("<uuid:pk>/send-link/", wrap(send_link), name="contacts_contact_send_link"),
        path("<uuid:pk>/ask-number/", wrap(ask_number), name="contacts_contact_ask_number"),
    ]


def number_request_panel(request: HttpRequest, contact: Contact) -> str:
    """For a person known by a business-scoped id only: ask for their number, and the answers."""
    requests = number_requests(contact)
    if not requests and not may_ask_for_number(contact):
        return ""
    context = {
        "contact": contact,
        "requests": requests,
        "may_ask": may_ask_for_number(contact)
        and request.user.has_perm("contacts.change_contact")
        and contact.erased_at is None,
        "ask_url": reverse("admin:contacts_contact_ask_number", args=[contact.pk]),
    }
    return render_to_string(
        "admin/conversation/number_request_panel.html", context, request=request
    )


contribute_to_contact_admin(
    "conversation", ContactAdminPart(urls=send_link_urls, panels=[number_request_panel])
)
