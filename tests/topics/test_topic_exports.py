"""A person's own copies say which topics they keep and which events were about a topic."""

import pytest

from consent.rules import Action
from integrations.export import person_export
from preferences.services import consent_record
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db


def test_the_person_export_lists_topic_states_and_topic_events(offers):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)

    copy = person_export(contact)

    assert [(t["topic"], t["status"]) for t in copy["consent"]["topics"]] == [
        ("offers", "opted_in")
    ]
    assert [e["topic"] for e in copy["consent"]["events"]] == [None, "offers"]


def test_the_consent_record_names_each_events_topic(offers):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)

    assert [e["topic"] for e in consent_record(contact)["events"]] == [None, "offers"]
