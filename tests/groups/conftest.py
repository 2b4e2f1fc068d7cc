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
    from tests.whatsapp.conftest import use_fake_graph
    from tests.whatsapp.fake_graph import FakeGraph

    graph = FakeGraph().start()
    use_fake_graph(settings, graph, phone_number_id="1000001")
    settings.WHATSAPP_MAX_ATTEMPTS = 1
    yield graph
    graph.stop()


def invited(*, group, contact, **kwargs):
    """`invite_contact`, then what it queued delivered, as after its commit."""
    from django.test import TestCase

    from groups.services import invite_contact

    with TestCase.captureOnCommitCallbacks(execute=True):
        invitation = invite_contact(group=group, contact=contact, **kwargs)
    invitation.refresh_from_db()
    return invitation
