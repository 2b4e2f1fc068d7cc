"""Importing a file: all or nothing, dry runs, idempotency, and never overriding a newer answer."""

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from consent.chain import check_chain
from consent.models import ConsentEvent, ConsentState, OutrankedOptOut
from consent.rules import Action, Status
from contacts.models import Contact, Tag
from contacts.services import erase_person
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.importing.conftest import excel_workbook

pytestmark = pytest.mark.django_db
HEADER = ["phone", "name", "tags", "attr:city", "marketing_status", "marketing_date"]


def status(contact, purpose="marketing"):
    state = ConsentState.objects.filter(contact=contact, purpose=purpose).first()
    return state.status if state else Status.NONE


def snapshot():
    return (
        sorted(
            map(
                repr, Contact.objects.values_list("id", "phone", "name", "attributes", "updated_at")
            )
        ),
        sorted(ConsentEvent.objects.values_list("hash", flat=True)),
        sorted(ConsentState.objects.values_list("contact_id", "purpose", "status", "last_event")),
        sorted(Contact.tags.through.objects.values_list("contact_id", "tag_id")),
    )


def test_one_invalid_row_and_nothing_is_written(policy, contacts_file, run_import):
    path = contacts_file(
        HEADER,
        ["+447911123456", "Ada", "vip", "", "legacy", "2023-05-01"],
        ["+447911123457", "Bob", "", "", "opted_in", ""],
    )
    report = run_import(path)
    assert [(p.row, p.column) for p in report.errors.shown()] == [(3, "marketing_status")]
    assert not Contact.objects.exists()
    assert not ConsentEvent.objects.exists() and not Tag.objects.exists()


def test_a_dry_run_writes_nothing_and_counts_what_an_import_then_does(
    policy, contacts_file, run_import
):
    known = ContactFactory(phone="+447911123456", name="Ada")
    record(known, Action.WITHDRAW, at=timezone.now() - timedelta(days=1))
    erased = erase_person(contact=ContactFactory(phone="+447911123459"))
    unchanged = ContactFactory(phone="+447911123458", name="Cy")
    path = contacts_file(
        HEADER,
        ["+447911123456", "Ada L", "", "", "legacy", "2023-05-01"],  # older than her opt-out
        ["+447911123457", "Bob", "new", "Leeds", "legacy", "2023-05-01"],
        ["+447911123458", "Cy", "", "", "", ""],
        ["+447911123459", "Di", "", "", "legacy", ""],
    )
    before = snapshot()

    dry = run_import(path, dry_run=True)

    assert dry.ok and snapshot() == before
    expected = {
        "rows": 4,
        "new_contacts": 1,
        "updated_contacts": 1,
        "events": 2,
        "unapplied_events": 1,
        "skipped_rows": 2,
    }
    assert dry.counts() == expected
    assert [(p.row, p.message) for p in dry.skipped.shown()] == [
        (5, "this person was erased; an import never brings them back")
    ]
    real = run_import(path)
    assert real.ok and real.counts() == expected
    assert Contact.objects.get(pk=known.pk).name == "Ada L"
    assert Contact.objects.get(pk=erased.pk).name == "" and unchanged.name == "Cy"


def test_the_same_file_twice_adds_nothing(policy, contacts_file, run_import):
    ContactFactory(phone="+447911123456", name="Ada")
    path = contacts_file(
        [*HEADER, "service_status"],
        ["+447911123456", "Ada", "vip", "York", "legacy", "2023-05-01", "opted_out"],
        ["+447911123457", "Bob", "a;b", "", "opted_out", "", ""],
        ["+447911123458", "Cy", "", "", "legacy", "", "opted_out"],
    )
    first = run_import(path)
    assert first.ok and first.events == 5
    after_first = snapshot()

    again = run_import(path)

    assert again.ok and snapshot() == after_first
    assert again.counts() == {
        "rows": 3,
        "new_contacts": 0,
        "updated_contacts": 0,
        "events": 0,
        "unapplied_events": 0,
        "skipped_rows": 3,
    }


def test_a_newer_opt_out_is_kept_against_an_older_legacy_row(policy, contacts_file, run_import):
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.WITHDRAW, at=timezone.now() - timedelta(days=30))

    report = run_import(
        contacts_file(HEADER, ["+447911123456", "", "", "", "legacy", "2022-01-01"])
    )

    assert report.ok and report.unapplied_events == 1
    assert status(contact) == Status.OPTED_OUT
    kept = ConsentEvent.objects.get(contact=contact, action=Action.LEGACY)
    assert (kept.applied, kept.status_after) == (False, Status.OPTED_OUT)
    assert check_chain(contact.pk).valid


def test_an_import_never_turns_an_opt_out_into_legacy_even_when_dated_later(
    policy, contacts_file, run_import
):
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.WITHDRAW, at=timezone.now() - timedelta(days=300))

    run_import(contacts_file(HEADER, ["+447911123456", "", "", "", "legacy", ""]))

    assert status(contact) == Status.OPTED_OUT
    assert ConsentEvent.objects.get(contact=contact, action=Action.LEGACY).applied is False


def test_an_old_opt_out_outranked_by_a_newer_grant_is_listed_for_staff(
    policy, contacts_file, run_import
):
    contact = ContactFactory(phone="+447911123456")
    grant = record(contact, Action.GRANT, at=timezone.now() - timedelta(days=2))

    run_import(contacts_file(HEADER, ["+447911123456", "", "", "", "opted_out", "2020-01-01"]))

    assert status(contact) == Status.OPTED_IN
    withdraw = ConsentEvent.objects.get(contact=contact, action=Action.WITHDRAW)
    listed = OutrankedOptOut.objects.get()
    assert (listed.event, listed.outranked_by) == (withdraw, grant)


def test_an_opt_out_stops_a_legacy_contact_and_chains_onto_their_ledger(
    policy, contacts_file, run_import
):
    contact = ContactFactory(phone="+447911123456")
    first = record(contact, Action.LEGACY, at=timezone.now() - timedelta(days=400))

    run_import(contacts_file(HEADER, ["+447911123456", "", "", "", "opted_out", ""]))

    event = ConsentEvent.objects.get(contact=contact, action=Action.WITHDRAW)
    assert (event.seq, event.prev_hash, event.applied) == (2, first.hash, True)
    state = ConsentState.objects.get(contact=contact, purpose="marketing")
    assert (state.status, state.last_event) == (Status.OPTED_OUT, event)
    assert check_chain(contact.pk).valid


def test_a_known_contact_is_completed_never_emptied(policy, contacts_file, run_import):
    contact = ContactFactory(
        phone="+447911123456", wa_id=None, name="Ada", language="es", attributes={"a": "1"}
    )
    contact.tags.add(Tag.objects.create(name="old"))

    run_import(contacts_file(HEADER, ["+447911123456", "", "new", "York", "", ""]))

    contact.refresh_from_db()
    assert (contact.name, contact.language, contact.wa_id) == ("Ada", "es", "447911123456")
    assert contact.attributes == {"a": "1", "city": "York"}
    assert set(contact.tags.values_list("name", flat=True)) == {"old", "new"}


def test_a_tag_for_the_whole_file(policy, contacts_file, run_import):
    path = contacts_file(HEADER, ["+447911123456", "Ada", "vip", "", "", ""])
    assert run_import(path, tag="spring-import").ok
    assert set(Contact.objects.get().tags.values_list("name", flat=True)) == {
        "vip",
        "spring-import",
    }


def test_worker_processes_import_what_one_process_imports(policy, contacts_file, run_import):
    rows = [[f"+4479111{i:05d}", f"P{i}", "", "", "legacy", "2023-05-01"] for i in range(2500)]
    path = contacts_file(HEADER, *rows)
    report = run_import(path, workers=2, dry_run=True)
    assert report.ok and report.new_contacts == 2500 and report.events == 2500
    report = run_import(path, workers=2)
    assert report.ok and ConsentEvent.objects.count() == 2500


# --- The command --------------------------------------------------------------------


def test_the_command_prints_what_it_did(policy, contacts_file, capsys):
    path = contacts_file(HEADER, ["+447911123456", "Ada", "", "", "legacy", ""])
    call_command("import_contacts", str(path), "--dry-run", "--workers", "1")
    out = capsys.readouterr().out
    assert "would import 1 rows: 1 new contacts" in out
    assert not Contact.objects.exists()

    call_command("import_contacts", str(path), "--workers", "1")
    assert "imported 1 rows: 1 new contacts" in capsys.readouterr().out
    assert Contact.objects.count() == 1


def test_the_command_fails_with_the_report(policy, contacts_file, capsys):
    from django.core.management import CommandError

    path = contacts_file(
        HEADER, ["12", "Ada", "", "", "", ""], ["+447911123456", "", "", "", "x", ""]
    )
    with pytest.raises(CommandError, match="2 problem"):
        call_command("import_contacts", str(path), "--workers", "1")
    err = capsys.readouterr().err
    assert "row 2, phone: 12: too short for a UK number" in err
    assert "row 3, marketing_status: 'x' cannot be imported" in err


def test_the_command_prints_plain_progress_lines_off_a_terminal(policy, contacts_file, capsys):
    path = contacts_file(HEADER, ["+447911123456", "Ada", "", "", "legacy", ""])
    call_command("import_contacts", str(path), "--workers", "1")
    out = capsys.readouterr().out
    assert "Reading and checking rows: " in out and "Writing: 1 of 1 rows" in out


def test_a_workbook_as_spreadsheet_programs_write_it(policy, tmp_path, run_import):
    path = excel_workbook(
        tmp_path / "excel.xlsx",
        ["phone", "name", "marketing_status", "marketing_date", "attr:vip", "attr:code"],
        [447911123456, ("runs", ["Ada ", "Lovelace"]), "legacy", ("date", 45047), True, None],
        [
            "+447911123457",
            "Bob",
            "opted_out",
            ("datetime", 45047.5),
            False,
            ("formula", 'CONCAT("A","1")', "A1"),
        ],
    )

    report = run_import(path)

    assert report.ok, report.errors.shown()
    ada, bob = Contact.objects.order_by("phone")
    assert (ada.phone, ada.name, ada.attributes) == (
        "+447911123456",
        "Ada Lovelace",
        {"vip": "True"},
    )
    assert bob.attributes == {"vip": "False", "code": "A1"}
    dates = dict(ConsentEvent.objects.values_list("contact__name", "occurred_at"))
    zone = timezone.get_current_timezone()
    assert dates["Ada Lovelace"].astimezone(zone).replace(tzinfo=None) == datetime(2023, 5, 1)
    assert dates["Bob"].astimezone(zone).replace(tzinfo=None) == datetime(2023, 5, 1, 12)
