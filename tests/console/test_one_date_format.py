"""One date format across the admin ("7 Dec 2026, 19:51"), in the staff user's time zone."""

from datetime import UTC, date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from consent.rules import Action, Source
from console.dashboard import answers_chart
from imports.models import ContactImport, ExportJob
from tests.consent_helpers import record
from tests.factories import ContactFactory, PolicyFactory

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


def test_an_exports_page_reads_dates_as_the_rest_of_the_admin(staff_client):
    job = ExportJob.objects.create(
        kind=ExportJob.Kind.CONTACTS,
        description="every contact",
        requested_by=staff_client.user,
        created_at=AT,
    )
    staff_client.cookies["console_tz"] = "Asia/Tokyo"

    page = staff_client.get(reverse("admin:imports_exportjob_job", args=[job.pk])).content
    assert "asked for on 8 Dec 2026, 04:51" in page.decode()


def test_an_imports_page_reads_dates_as_the_rest_of_the_admin(staff_client):
    job = ContactImport.objects.create(file_name="people.csv", uploaded_by=staff_client.user)
    ContactImport.objects.filter(pk=job.pk).update(created_at=AT)

    page = staff_client.get(reverse("admin:imports_contactimport_job", args=[job.pk])).content
    assert "on 7 Dec 2026, 19:51" in page.decode()


def test_ledger_entries_and_policies_name_their_moment_in_the_staff_time_zone():
    event = record(ContactFactory(), Action.GRANT, source=Source.WEB_FORM, at=AT)
    policy = PolicyFactory(name="New rules", deadline=AT)

    with timezone.override("Asia/Tokyo"):
        assert str(event).endswith("· 8 Dec 2026, 04:51")
        assert str(policy) == "New rules (deadline 8 Dec 2026)"


def test_the_dashboards_chart_names_its_days_as_the_admin_does():
    chart = answers_chart([], last_day=date(2026, 12, 7))

    assert chart["labels"][-1] == "7 Dec"
    assert all(not label.startswith("0") for label in chart["labels"])
