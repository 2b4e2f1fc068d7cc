from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from consent.models import ConsentNotice, ConsentState, ReconsentPolicy
from consent.rules import Action, Purpose, Source
from consent.services import Evidence, publish_notice, record_consent
from contacts.services import upsert_contact

NOTICES = {
    ("marketing", "en"): "Yes, send me offers and news from Demo Shop on WhatsApp. "
    "I can stop at any time by replying STOP.",
    ("service", "en"): "Yes, send me order updates, confirmations and account notices "
    "from Demo Shop on WhatsApp.",
    ("marketing", "es"): "Sí, envíenme ofertas y novedades de Demo Shop por WhatsApp. "
    "Puedo darme de baja cuando quiera respondiendo BAJA.",
    ("service", "es"): "Sí, envíenme actualizaciones de pedidos, confirmaciones y avisos "
    "de cuenta de Demo Shop por WhatsApp.",
    # The wording of our call permission request; the person answers in WhatsApp's dialog.
    ("calls", "en"): "May Demo Shop call you on WhatsApp about your orders? "
    "You can take this back at any time.",
    ("calls", "es"): "¿Podemos llamarte por WhatsApp desde Demo Shop por tus pedidos? "
    "Puedes retirar el permiso cuando quieras.",
}

# (phone, name, language, marketing story)
CONTACTS = [
    ("+447911123001", "Ada Lovelace", "en", "opted_in"),
    ("+447911123002", "Alan Turing", "en", "opted_out"),
    ("+447911123003", "Grace Hopper", "en", "legacy"),
    ("+447911123004", "Edsger Dijkstra", "en", "expired"),
    ("+447911123005", "Barbara Liskov", "en", "pending"),
    ("+447911123006", "Donald Knuth", "en", "paused"),
    ("+447911123007", "Margaret Hamilton", "en", "none"),
    ("+34612345678", "Lucía Pérez", "es", "opted_in"),
]

# Call permissions given in WhatsApp's own dialog: (days ago, days it lasts; None: permanent).
CALL_PERMISSIONS = {
    "+447911123001": (2, 7),
    "+34612345678": (10, None),
}

DEMO_USER = "admin"
DEMO_PASSWORD = "admin"


class Command(BaseCommand):
    help = "Publish the demo notices and create demo contacts in every consent state (idempotent)."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            notices = self._notices()
            policy = self._policy()
            created = 0
            for phone, name, language, story in CONTACTS:
                contact, is_new = upsert_contact(
                    phone=phone, name=name, language=language, tags=["demo"]
                )
                if is_new or not ConsentState.objects.filter(contact=contact).exists():
                    self._tell(contact, story, notices, language, policy)
                    created += 1
        self._superuser()
        self.stdout.write(
            self.style.SUCCESS(
                f"demo data ready: {len(notices)} notices, {created} new contact stories"
            )
        )

    def _notices(self) -> dict[tuple[str, str], ConsentNotice]:
        notices = {}
        for (purpose, language), text in NOTICES.items():
            notice, _ = ConsentNotice.objects.get_or_create(
                purpose=purpose, language=language, version=1, defaults={"text": text}
            )
            notices[(purpose, language)] = publish_notice(notice=notice)
        return notices

    def _policy(self) -> ReconsentPolicy:
        policy = ReconsentPolicy.objects.filter(active=True).first()
        if policy is None:
            policy = ReconsentPolicy.objects.create(
                name="Re-consent before the new opt-in rules",
                deadline=timezone.now() + timedelta(days=45),
                reminder_offsets=[30, 7, 1],
                template_name="reconsent_reminder",
                active=True,
            )
        return policy

    def _tell(self, contact, story: str, notices, language: str, policy) -> None:
        now = timezone.now()
        web = Evidence(ip="203.0.113.9", user_agent="demo", page_url="https://shop.example/opt-in")
        service = notices[(Purpose.SERVICE, language)]
        steps = [
            (
                Action.GRANT,
                Source.WEB_FORM,
                now - timedelta(days=60),
                {"purpose": Purpose.SERVICE, "notice": service},
            ),
            *_story(story, now, notices[(Purpose.MARKETING, language)], policy),
        ]
        if str(contact.phone) in CALL_PERMISSIONS:
            calls = notices[(Purpose.CALLS, language)]
            steps.append(_call_permission(*CALL_PERMISSIONS[str(contact.phone)], calls, now=now))
        for action, source, at, kw in steps:
            record_consent(
                contact=contact,
                purpose=kw.pop("purpose", Purpose.MARKETING),
                action=action,
                source=source,
                occurred_at=at,
                evidence=kw.pop("evidence", web),
                **kw,
            )

    def _superuser(self) -> None:
        User = get_user_model()
        if not User.objects.filter(is_superuser=True).exists():
            User.objects.create_superuser(DEMO_USER, "admin@example.com", DEMO_PASSWORD)
            self.stdout.write(f"demo superuser created: {DEMO_USER} / {DEMO_PASSWORD}")


def _call_permission(
    days_ago: int, lasts: int | None, notice: ConsentNotice, *, now
) -> tuple[str, str, Any, dict]:
    at = now - timedelta(days=days_ago)
    kind = "permanent" if lasts is None else "temporary"
    return (
        Action.GRANT,
        Source.WHATSAPP_PLATFORM,
        at,
        {
            "purpose": Purpose.CALLS,
            "notice": notice,
            "expires_at": None if lasts is None else at + timedelta(days=lasts),
            "evidence": Evidence(
                wamid=f"wamid.DEMO-CALLS-{kind.upper()}",
                note="call permission accept (user_action)",
                context={"call_permission": {"is_permanent": lasts is None}},
            ),
        },
    )


def _story(story: str, now, marketing, policy) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """The marketing events of a demo contact's story: (action, source, when, details)."""
    granted = (Action.GRANT, Source.WEB_FORM, now - timedelta(days=30), {"notice": marketing})
    stories: dict[str, list[tuple[str, str, Any, dict[str, Any]]]] = {
        "opted_in": [granted],
        "opted_out": [
            granted,
            (
                Action.WITHDRAW,
                Source.WHATSAPP_KEYWORD,
                now - timedelta(days=2),
                {"evidence": Evidence(wamid="wamid.DEMO-STOP", note="replied STOP")},
            ),
        ],
        "legacy": [
            (
                Action.LEGACY,
                Source.IMPORT,
                now - timedelta(days=400),
                {"expires_at": policy.deadline, "evidence": Evidence(note="imported from old CRM")},
            )
        ],
        "expired": [
            (
                Action.LEGACY,
                Source.IMPORT,
                now - timedelta(days=400),
                {"expires_at": now - timedelta(days=1), "evidence": Evidence(note="old CRM")},
            ),
            (
                Action.EXPIRE,
                Source.SYSTEM,
                now - timedelta(hours=23),
                {"evidence": Evidence(note="grace period ended")},
            ),
        ],
        "pending": [
            (Action.REQUEST, Source.WEB_FORM, now - timedelta(hours=1), {"notice": marketing})
        ],
        "paused": [
            granted,
            (
                Action.PAUSE,
                Source.PREFERENCE_CENTRE,
                now - timedelta(days=1),
                {"paused_until": now + timedelta(weeks=4)},
            ),
        ],
    }
    return [(a, s, at, dict(kw)) for a, s, at, kw in stories.get(story, [])]
