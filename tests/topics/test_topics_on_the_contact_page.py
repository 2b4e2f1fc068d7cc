"""Staff see a contact's topics on its admin page, and topic events in its timeline."""

import pytest
from django.urls import reverse

from consent.rules import Action
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db


def test_the_contact_page_lists_each_topic_with_its_status(staff_client, offers, arrivals):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)

    html = staff_client.get(reverse("admin:contacts_contact_change", args=[contact.pk])).content
    html = html.decode()

    row = '<tr data-topic="{0}"><td>Marketing</td><td>{0}</td><td class="contact-topic-status">'
    assert row.format("Offers") + "Opted in" in html
    assert row.format("New arrivals") + "No consent" in html
    assert "Marketing · offers" in html
