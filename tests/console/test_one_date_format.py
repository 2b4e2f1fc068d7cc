"""One date format across the admin ("7 Dec 2026, 19:51"), in the staff user's time zone."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from consent.rules import Action, Source
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
AT = datetime(2026, 12, 7, 19, 51, tzinfo=UTC)


@pytest.fixture
def contact_page(staff_client):
    contact = ContactFactory(name="Ada")
    record(contact, Action.GRANT, source=Source.WEB_FORM, at=AT)
    return lambda: staff_client.get(
        reverse("admin:contacts_contact_change", args=[contact.pk])
    ).content.decode()


def test_dates_read_one_way(contact_page):
    page = contact_page()

    assert "7 Dec 2026, 19:51" in page
    assert "p.m." not in page and "Dec." not in page


def test_dates_follow_the_browsers_time_zone(staff_client, contact_page):
    staff_client.cookies["console_tz"] = "Asia/Tokyo"

    assert "8 Dec 2026, 04:51" in contact_page()


def test_an_unknown_time_zone_is_ignored(staff_client, contact_page):
    staff_client.cookies["console_tz"] = "Mars/Olympus_Mons"

    assert "7 Dec 2026, 19:51" in contact_page()
