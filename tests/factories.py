import factory
from django.utils import timezone

from consent.models import ConsentNotice, ReconsentPolicy
from contacts.models import Contact


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
        django_get_or_create = ("purpose", "language", "version")

    purpose = "marketing"
    language = "en"
    version = 1
    text = factory.LazyAttribute(lambda n: f"Yes, send me {n.purpose} messages (v{n.version}).")
    published_at = factory.LazyFunction(timezone.now)


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReconsentPolicy

    name = "Grace period"
    deadline = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=30))
    reminder_offsets = [30, 7, 1]
    active = True
