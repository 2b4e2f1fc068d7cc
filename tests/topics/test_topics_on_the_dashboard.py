"""The dashboard counts, per topic, the people who keep it and who left it; the chart of
opt-ins and opt-outs stays the purposes' own."""

import pytest
from django.utils import timezone

from consent.rules import Action
from console.selectors import daily_answers, topic_tallies
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db


def test_each_topic_counts_who_keeps_it_and_who_left_it(staff_client, offers, arrivals):
    for keeps in (True, True, False):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT if keeps else Action.WITHDRAW)

    tallies = {t.key: (t.kept, t.left) for t in topic_tallies()}
    page = staff_client.get("/admin/").content.decode()

    assert tallies == {"offers": (2, 1), "new_arrivals": (0, 0)}
    assert '<tr data-topic="offers"><td>Offers</td><td>2</td><td>1</td></tr>' in page


def test_a_purpose_stop_counts_once_in_the_chart_not_once_per_topic(offers, arrivals):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)
    answer_topic(contact, arrivals, Action.GRANT)
    record(contact, Action.WITHDRAW)

    rows = daily_answers(today=timezone.localdate())

    assert sum(r["n"] for r in rows if r["action"] == "withdraw") == 1
    assert sum(r["n"] for r in rows if r["action"] == "grant") == 1
