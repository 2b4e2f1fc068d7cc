import factory
from django.utils import timezone

from consent.models import ConsentNotice, ReconsentPolicy, Topic
from contacts.models import Contact
from whatsapp.message_templates import placeholders


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    phone = factory.Sequence(lambda n: f"+4479111{n % 100000:05d}")
    wa_id = factory.LazyAttribute(lambda c: str(c.phone).lstrip("+") if c.phone else None)
    name = factory.Faker("name")
    language = "en"


class NoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentNotice
        django_get_or_create = ("purpose", "topic", "language", "version")

    purpose = "marketing"
    topic = None  # a purpose's own wording (TopicNoticeFactory: a topic's)
    language = "en"
    version = 1
    text = factory.LazyAttribute(lambda n: f"Yes, send me {n.purpose} messages (v{n.version}).")
    published_at = factory.LazyFunction(timezone.now)


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic
        django_get_or_create = ("purpose", "key")

    purpose = "marketing"
    key = "offers"
    names = factory.LazyAttribute(lambda t: {"en": t.key.replace("_", " ").capitalize()})
    descriptions = factory.LazyAttribute(lambda t: {"en": f"News about {t.key}."})


class TopicNoticeFactory(factory.django.DjangoModelFactory):
    """A topic's published wording: `marketing/offers/en/1`."""

    class Meta:
        model = ConsentNotice
        django_get_or_create = ("topic", "language", "version")

    topic = factory.SubFactory(TopicFactory)
    purpose = factory.LazyAttribute(lambda n: n.topic.purpose)
    language = "en"
    version = 1
    text = factory.LazyAttribute(lambda n: f"Yes, send me {n.topic.key} (v{n.version}).")
    published_at = factory.LazyFunction(timezone.now)


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReconsentPolicy

    name = "Grace period"
    deadline = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=30))
    reminder_offsets = [30, 7, 1]
    active = True


def template_listing_item(
    name: str = "order_update",
    language: str = "en_US",
    *,
    category: str = "UTILITY",
    status: str = "APPROVED",
    body: str = "Hi {{1}}, your order {{2}} is on its way.",
    examples: tuple[str, ...] = ("Ada", "A-42"),
    n: int = 0,
) -> dict:
    """One template as `GET /<WABA_ID>/message_templates` lists it (Meta's reference shape)."""
    return {
        "name": name,
        "language": language,
        "status": status,
        "category": category,
        "id": str(278077987957091 + n),
        "quality_score": {"score": "GREEN", "date": 1796080000},
        "components": [
            {"type": "BODY", "text": body, "example": {"body_text": [list(examples)]}},
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
        ],
    }


class TemplateFactory(factory.django.DjangoModelFactory):
    """A registry row as a sync writes it."""

    class Meta:
        model = "whatsapp.WhatsAppTemplate"
        django_get_or_create = ("waba_id", "name", "language")

    waba_id = "102290129340398"
    name = "order_update"
    language = "en_US"
    category = "UTILITY"
    status = "APPROVED"
    quality = "GREEN"
    components = factory.LazyAttribute(
        lambda t: template_listing_item(t.name, t.language, category=t.category)["components"]
    )
    parameters = factory.LazyAttribute(lambda t: placeholders(t.components))
