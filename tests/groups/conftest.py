import pytest
from django.utils import timezone

from groups.models import Group
from tests.consent_helpers import record
from tests.factories import ContactFactory
from whatsapp.models import ServiceWindow


@pytest.fixture
def group(db) -> Group:
    return Group.objects.create(name="VIP early access", purpose="marketing")


@pytest.fixture
def make_opted_in():
    def make(**kwargs):
        contact = ContactFactory(**kwargs)
        record(contact, "grant", "marketing")
        return contact

    return make


@pytest.fixture
def opted_in(db, make_opted_in):
    return make_opted_in(name="Olivia Opted-In")


@pytest.fixture
def opted_out(db):
    contact = ContactFactory(name="Oscar Opted-Out")
    record(contact, "withdraw", "marketing")
    return contact


def open_window(contact) -> None:
    """The contact wrote to us just now: free-form messages are allowed for 24 h."""
    ServiceWindow.objects.update_or_create(
        recipient=contact.wa_id, defaults={"last_inbound_at": timezone.now()}
    )


@pytest.fixture
def fake_graph(settings):
    """WHATSAPP_BACKEND=cloud against a fake Graph API on 127.0.0.1."""
    from tests.groups.fake_graph import FakeGraph, start

    graph = FakeGraph()
    server = start(graph)
    settings.WHATSAPP_BACKEND = "cloud"
    settings.WHATSAPP_API_BASE_URL = graph.base_url
    settings.WHATSAPP_API_VERSION = "v23.0"
    settings.WHATSAPP_PHONE_NUMBER_ID = "1000001"
    settings.WHATSAPP_ACCESS_TOKEN = "test-token"
    settings.WHATSAPP_MAX_ATTEMPTS = 1
    yield graph
    server.shutdown()
    server.server_close()
