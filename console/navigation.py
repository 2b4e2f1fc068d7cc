"""The sidebar, in the sections staff think in (UNFOLD["SIDEBAR"]["navigation"])."""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

# (section, [(title, icon, "app_label.model_name"), ...]); an entry is shown to
# whoever may view that model, so nobody is offered a page that answers 403.
SECTIONS = [
    (
        _("People"),
        [
            (_("Contacts"), "person", "contacts.contact"),
            (_("Tags"), "sell", "contacts.tag"),
            (_("Imports"), "upload_file", "imports.contactimport"),
            (_("Exports"), "download", "imports.exportjob"),
            (_("Likely duplicates"), "call_merge", "contacts.likelyduplicate"),
            (_("Identity changes"), "badge", "contacts.identitychange"),
        ],
    ),
    (
        _("Consent"),
        [
            (_("Ledger"), "receipt_long", "consent.consentevent"),
            (_("Notices"), "article", "consent.consentnotice"),
            (_("Re-consent policies"), "event_repeat", "consent.reconsentpolicy"),
            (_("Keywords"), "key", "conversation.consentkeyword"),
            (_("Opt-out reviews"), "rate_review", "conversation.optoutreview"),
            (_("Outranked opt-outs"), "report", "consent.outrankedoptout"),
            (_("Deadline changes"), "update", "consent.policydeadlinechange"),
        ],
    ),
    (
        _("Campaigns"),
        [
            (_("Campaigns"), "campaign", "campaigns.campaign"),
            (_("Messages"), "chat", "campaigns.message"),
            (_("Re-consent reminders"), "notifications", "campaigns.remindersent"),
            (_("Outbox"), "outbox", "whatsapp.outboundmessage"),
            (_("Inbound events"), "inbox", "whatsapp.inboundevent"),
        ],
    ),
    (
        _("Groups"),
        [
            (_("Groups"), "groups", "groups.group"),
            (_("Invitations"), "mail", "groups.groupinvitation"),
            (_("Memberships"), "how_to_reg", "groups.groupmembership"),
        ],
    ),
    (
        _("Compliance"),
        [
            (_("Erasures"), "delete_forever", "contacts.erasure"),
            (_("Staff audit"), "policy", "staff.auditentry"),
        ],
    ),
    (
        _("Settings"),
        [
            (_("API keys"), "vpn_key", "api.apikey"),
            (_("Sending numbers"), "phone_iphone", "whatsapp.sendingnumber"),
            (_("Service windows"), "schedule", "whatsapp.servicewindow"),
            (_("Periodic tasks"), "timer", "django_celery_beat.periodictask"),
            (_("Users"), "manage_accounts", "auth.user"),
            (_("Staff roles"), "shield_person", "auth.group"),
        ],
    ),
]


def _can_view(label: str):
    app_label, model_name = label.split(".")

    def check(request: HttpRequest) -> bool:
        user = request.user
        return user.has_perm(f"{app_label}.view_{model_name}") or user.has_perm(
            f"{app_label}.change_{model_name}"
        )

    return check


def _changelist(label: str) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def sidebar(request: HttpRequest) -> list[dict]:
    registered = {model._meta.label_lower for model in admin.site._registry}
    sections = [
        {
            "title": _("Overview"),
            "items": [
                {"title": _("Dashboard"), "icon": "dashboard", "link": reverse("admin:index")}
            ],
        }
    ]
    for title, entries in SECTIONS:
        items = [
            {
                "title": item_title,
                "icon": icon,
                "link": _changelist(label),
                "permission": _can_view(label),
            }
            for item_title, icon, label in entries
            if label in registered
        ]
        if items:
            sections.append({"title": title, "separator": True, "items": items})
    return sections
