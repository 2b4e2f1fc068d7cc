from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from consent.models import ConsentNotice, ConsentState, ReconsentPolicy, Topic
from consent.rules import Action, Purpose, Source
from consent.services import Evidence, publish_notice, record_consent, record_topic_consent
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

# The marketing topics a person may keep or leave: names, descriptions, notice wording.
TOPICS = {
    "offers": {
        "names": {"en": "Offers", "es": "Ofertas"},
        "descriptions": {
            "en": "Discounts and sales, at most once a week.",
            "es": "Descuentos y rebajas, como mucho una vez por semana.",
        },
        "notices": {
            "en": "Yes, send me Demo Shop's offers and discounts on WhatsApp.",
            "es": "Sí, envíenme las ofertas y descuentos de Demo Shop por WhatsApp.",
        },
    },
    "new_arrivals": {
        "names": {"en": "New arrivals", "es": "Novedades"},
        "descriptions": {
            "en": "When something new comes into the shop.",
            "es": "Cuando llega algo nuevo a la tienda.",
        },
        "notices": {
            "en": "Yes, tell me on WhatsApp when new products arrive at Demo Shop.",
            "es": "Sí, avísenme por WhatsApp cuando lleguen productos nuevos a Demo Shop.",
        },
    },
}
# The topic answers of the opted-in demo people: (topic, action).
TOPIC_ANSWERS = [("new_arrivals", Action.GRANT), ("offers", Action.WITHDRAW)]

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
            topic_notices = self._topics()
            policy = self._policy()
            created = 0
            for phone, name, language, story in CONTACTS:
                contact, is_new = upsert_contact(
                    phone=phone, name=name, language=language, tags=["demo"]
                )
                if is_new or not ConsentState.objects.filter(contact=contact).exists():
                    self._tell(contact, story, notices, language, policy)
                    if story == "opted_in":
                        self._answer_topics(contact, topic_notices, language)
                    created += 1
        self._superuser()
        self.stdout.write(
            self.style.SUCCESS(
                f"demo data ready: {len(notices)} notices, {len(topic_notices)} topic notices, "
                f"{created} new contact stories"
            )
        )

    def _notices(self) -> dict[tuple[str, str], ConsentNotice]:
        notices = {}
        for (purpose, language), text in NOTICES.items():
            notice, _ = ConsentNotice.objects.get_or_create(
                purpose=purpose, topic=None, language=language, version=1, defaults={"text": text}
            )
            notices[(purpose, language)] = publish_notice(notice=notice)
        return notices

    def _topics(self) -> dict[tuple[str, str], ConsentNotice]:
        notices = {}
        for key, words in TOPICS.items():
            topic, _ = Topic.objects.get_or_create(
                purpose=Purpose.MARKETING,
                key=key,
                defaults={"names": words["names"], "descriptions": words["descriptions"]},
            )
            for language, text in words["notices"].items():
                notice, _ = ConsentNotice.objects.get_or_create(
                    purpose=Purpose.MARKETING,
                    topic=topic,
                    language=language,
                    version=1,
                    defaults={"text": text},
                )
                notices[(key, language)] = publish_notice(notice=notice)
        return notices

    def _answer_topics(self, contact, notices, language: str) -> None:
        page = Evidence(ip="203.0.113.9", user_agent="demo", page_url="https://shop.example/prefs")
        for key, action in TOPIC_ANSWERS:
            notice = notices[(key, language)]
            record_topic_consent(
                contact=contact,
                topic=notice.topic,
                action=action,
                source=Source.PREFERENCE_CENTRE,
                notice=notice if action == Action.GRANT else None,
                occurred_at=timezone.now() - timedelta(days=20),
                evidence=page,
            )

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
