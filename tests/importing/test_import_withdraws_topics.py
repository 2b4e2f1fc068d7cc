"""An imported opt-out of a purpose reaches the topics under it, as a recorded one does."""

import pytest

from consent.chain import check_chain
from consent.models import ConsentEvent, TopicState
from consent.rules import Action
from tests.consent_helpers import record
from tests.factories import ContactFactory, TopicFactory, TopicNoticeFactory
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db
HEADER = ["phone", "marketing_status", "marketing_date"]


def test_an_imported_opt_out_withdraws_every_topic_of_a_known_contact(
    policy, contacts_file, run_import
):
    offers = TopicFactory(key="offers")
    TopicNoticeFactory(topic=offers)
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)

    run_import(contacts_file(HEADER, ["+447911123456", "opted_out", ""]))

    assert TopicState.objects.get(contact=contact).status == "opted_out"
    withdrawn = ConsentEvent.objects.get(contact=contact, topic="offers", action="withdraw")
    stop = ConsentEvent.objects.get(contact=contact, topic=None, action="withdraw")
    assert withdrawn.context["withdrawn_with"] == str(stop.pk)
    assert check_chain(contact.pk).valid
