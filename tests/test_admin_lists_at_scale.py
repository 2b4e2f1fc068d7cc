"""Admin lists written for a million rows: what they show is what they showed before."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from consent.models import ConsentState
from consent.rules import Action, Status
from contacts.models import Contact
from staff import paginator
from staff.paginator import EstimatedCountPaginator
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
CONTACTS = reverse("admin:contacts_contact_changelist")
EVENTS = reverse("admin:consent_consentevent_changelist")


def listed(staff_client, url, **params) -> set:
    return {c.pk for c in staff_client.get(url, params).context["cl"].result_list}


def test_no_consent_filter_lists_contacts_never_asked_and_those_at_none(staff_client):
    # given one contact never asked, one whose request lapsed to none, one opted in
    never = ContactFactory()
    lapsed = ContactFactory()
    record(lapsed, Action.REQUEST)
    record(lapsed, Action.EXPIRE, source="system")
    opted_in = ContactFactory()
    record(opted_in, Action.GRANT)
    assert ConsentState.objects.get(contact=lapsed).status == Status.NONE

    # then "no consent" is the first two, "opted in" the last
    assert listed(staff_client, CONTACTS, marketing_consent="none") == {never.pk, lapsed.pk}
    assert listed(staff_client, CONTACTS, marketing_consent="opted_in") == {opted_in.pk}


def test_a_phone_search_is_one_hash_lookup_not_a_scan_of_names(staff_client):
    # given a contact whose name contains digits of another's phone
    ada = ContactFactory(phone="+447911123456", name="Ada")
    ContactFactory(name="Caller 7911123456")

    # when searched by the phone in national format
    with CaptureQueriesContext(connection) as queries:
        found = listed(staff_client, CONTACTS, q="07911 123456")

    # then only the phone's owner is found, and no query reads names with LIKE
    assert found == {ada.pk}
    assert not [q for q in queries.captured_queries if "LIKE" in q["sql"].upper()]


def test_language_filter_offers_the_configured_languages(staff_client, settings):
    spanish = ContactFactory(language="es")
    ContactFactory(language="en")

    page = staff_client.get(CONTACTS, {"language": "es"})

    assert {c.pk for c in page.context["cl"].result_list} == {spanish.pk}
    choices = [f for f in page.context["cl"].filter_specs if f.title == "language"][0]
    assert [c["display"] for c in choices.choices(page.context["cl"])][1:] == [
        name for _, name in settings.LANGUAGES
    ]


def test_long_lists_are_estimated_short_ones_counted(monkeypatch):
    for _ in range(6):
        ContactFactory()
    monkeypatch.setattr(paginator, "EXACT_UP_TO", 3)

    count = EstimatedCountPaginator(Contact.objects.order_by("pk"), 2).count

    if connection.vendor == "postgresql":
        assert count >= 4  # past EXACT_UP_TO: the planner's estimate, at least what was seen
    else:
        assert count == 6
    assert EstimatedCountPaginator(Contact.objects.filter(name="nobody"), 2).count == 0


def test_the_ledger_list_is_newest_first_and_not_counted_in_full(staff_client):
    contact = ContactFactory()
    first = record(contact, Action.GRANT)
    second = record(contact, Action.WITHDRAW)

    page = staff_client.get(EVENTS)

    assert list(page.context["cl"].result_list) == [second, first]
    assert page.context["cl"].show_full_result_count is False
    assert first.occurred_at <= second.occurred_at
