"""Block and unblock from the contact page (audited): a panel and its two POST pages."""

from django.contrib import admin, messages
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from .admin import ContactAdminPart, contribute_to_contact_admin
from .blocking import block_contact, unblock_contact
from .models import Contact

PERMISSION = "contacts.change_contact"


def blocking_panel(request: HttpRequest, contact: Contact) -> str:
    context = {
        "contact": contact,
        "may_change": request.user.has_perm(PERMISSION) and contact.erased_at is None,
        "block_url": reverse("admin:contacts_contact_block", args=[contact.pk]),
        "unblock_url": reverse("admin:contacts_contact_unblock", args=[contact.pk]),
    }
    return render_to_string("admin/contacts/blocking_panel.html", context, request=request)


def _staff_contact(request: HttpRequest, pk: str) -> tuple[Contact, AbstractBaseUser]:
    contact = get_object_or_404(Contact, pk=pk)
    if not request.user.has_perm(PERMISSION) or not isinstance(request.user, AbstractBaseUser):
        raise PermissionDenied
    return contact, request.user


def blocking_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    wrap = model_admin.admin_site.admin_view

    def back(contact: Contact) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[contact.pk]))

    @require_POST
    def block(request: HttpRequest, pk: str) -> HttpResponse:
        contact, staff = _staff_contact(request, pk)
        if block_contact(contact=contact, actor=staff, reason=request.POST.get("reason", "")):
            model_admin.message_user(request, "Blocked: nothing is sent to them.", messages.SUCCESS)
        return back(contact)

    @require_POST
    def unblock(request: HttpRequest, pk: str) -> HttpResponse:
        contact, staff = _staff_contact(request, pk)
        if unblock_contact(contact=contact, actor=staff):
            model_admin.message_user(request, "Unblocked: their consent decides again.")
        return back(contact)

    return [
        path("<uuid:pk>/block/", wrap(block), name="contacts_contact_block"),
        path("<uuid:pk>/unblock/", wrap(unblock), name="contacts_contact_unblock"),
    ]


contribute_to_contact_admin(
    "blocking", ContactAdminPart(panels=[blocking_panel], urls=blocking_urls)
)
