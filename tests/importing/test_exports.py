"""Exports: contacts with their states, the ledger for a period; CSV and XLSX; formulas escaped."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from consent.models import ConsentEvent
from consent.rules import Action
from contacts.models import Contact
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def ada(db):
    contact = ContactFactory(
        phone="+447911123456", name='=HYPERLINK("x")', attributes={"city": "@York"}
    )
    record(contact, Action.GRANT, at=timezone.now() - timedelta(days=1))
    return contact


def test_contacts_export_as_csv_with_states_and_formulas_escaped(staff_client, ada):
    response = staff_client.get("/admin/contacts/contact/export/?format=csv")
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    [row] = rows
    assert row["phone"] == "+447911123456" and row["name"] == '\'=HYPERLINK("x")'
    assert row["attr:city"] == "'@York"
    assert (row["marketing_state"], row["service_state"]) == ("opted_in", "none")


def test_contacts_export_as_xlsx(staff_client, ada):
    response = staff_client.get("/admin/contacts/contact/export/?format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(body(response)), read_only=True).worksheets[0]
    header, row = list(sheet.iter_rows(values_only=True))
    values = dict(zip(header, row, strict=True))
    assert values["name"] == '\'=HYPERLINK("x")' and values["marketing_state"] == "opted_in"


def test_an_exported_xlsx_reads_back_and_adds_nothing(
    staff_client, ada, policy, tmp_path, run_import
):
    response = staff_client.get("/admin/contacts/contact/export/?format=xlsx")
    path = tmp_path / "contacts.xlsx"
    path.write_bytes(body(response))
    events = ConsentEvent.objects.count()

    report = run_import(path)

    assert report.ok, report.errors.shown()
    assert report.counts()["skipped_rows"] == 1 and report.events == 0
    assert ConsentEvent.objects.count() == events and Contact.objects.count() == 1


def test_the_ledger_for_a_period(staff_client, ada):
    old = ContactFactory(phone="+447911123457")
    record(old, Action.WITHDRAW, at=timezone.now() - timedelta(days=40))
    today = timezone.now().date()
    start = (today - timedelta(days=2)).isoformat()
    response = staff_client.get(
        f"/admin/consent/consentevent/export/?start={start}&end={today.isoformat()}&format=csv"
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    event = ConsentEvent.objects.get(contact=ada)
    assert [(r["event_id"], r["action"], r["hash"]) for r in rows] == [
        (str(event.pk), "grant", event.hash)
    ]


def test_the_ledger_export_needs_the_proof_permission(db, ada):
    user = get_user_model().objects.create_user("marketer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client = Client()
    client.force_login(user)
    assert client.get("/admin/consent/consentevent/export/").status_code == 403
    user.groups.add(Group.objects.get(name="Compliance"))
    assert client.get("/admin/consent/consentevent/export/").status_code == 200


def test_the_export_commands_write_files(ada, tmp_path):
    call_command("export_contacts", str(tmp_path / "c.xlsx"))
    call_command("export_contacts", str(tmp_path / "l.csv"), "--ledger", "--since", "2000-01-01")
    sheet = load_workbook(tmp_path / "c.xlsx", read_only=True).worksheets[0]
    assert len(list(sheet.iter_rows())) == 2
    assert (tmp_path / "l.csv").read_text().count("\n") == 2
