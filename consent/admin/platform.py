"""The contact page's WhatsApp side: what the platform answered our block calls."""

from django.http import HttpRequest
from django.template.loader import render_to_string

from contacts.admin import ContactAdminPart, contribute_to_contact_admin
from contacts.models import Contact

from ..blocking import platform_answers, platform_user


def platform_block_panel(request: HttpRequest, contact: Contact) -> str:
    answers = platform_answers(contact)
    if not answers and contact.blocked_at is None:
        return ""
    context = {"contact": contact, "answers": answers, "addressable": bool(platform_user(contact))}
    return render_to_string("admin/consent/platform_block_panel.html", context, request=request)


contribute_to_contact_admin("consent_platform", ContactAdminPart(panels=[platform_block_panel]))
