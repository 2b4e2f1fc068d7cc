"""The column spec: every column lands where it should; every kind of bad row is named."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from consent.rules import Action, Source, Status
from contacts.models import Contact
from tests.factories import ContactFactory, NoticeFactory, PolicyFactory

pytestmark = pytest.mark.django_db

EVERYTHING = [
    "Phone",
    "WA_ID",
    "whatsapp_user_id",
    "name",
    "language",
    "external_id",
    "tags",
    "attr:City",
    "marketing_status",
    "marketing_date",
    "marketing_source",
    "marketing_notice",
    "marketing_evidence",
    "service_status",
    "service_date",
    "service_source",
    "service_notice",
    "service_evidence",
]


def test_every_column_lands_on_the_contact_and_its_ledger(policy, contacts_file, run_import):
    notice = NoticeFactory(purpose="service", language="en", version=2)
    path = contacts_file(
        EVERYTHING,
        [
            "07911 123456",
            "447911123456",
            "GB.1234",
            "Ada Lovelace",
            "EN",
            "crm-1",
            "vip; old",
            "London",
            "LEGACY",
            "2023-05-01",
            "shop signup 2021",
            "Yes, send me offers",
            "ticked the box at the till",
            "opted_out",
            "2024-01-02 10:30",
            "old CRM unsubscribe",
            notice.ref,
            "replied STOP by SMS",
        ],
    )

    report = run_import(path)

    assert report.ok, report.errors.shown()
    ada = Contact.objects.get()
    assert (str(ada.phone), ada.wa_id, ada.whatsapp_user_id) == (
        "+447911123456",
        "447911123456",
        "GB.1234",
    )
    assert (ada.name, ada.language, ada.external_id) == ("Ada Lovelace", "en", "crm-1")
    assert set(ada.tags.values_list("name", flat=True)) == {"vip", "old"}
    assert ada.attributes == {"City": "London"}
    legacy = ConsentEvent.objects.get(contact=ada, purpose="marketing")
    assert (legacy.action, legacy.source, legacy.expires_at, legacy.notice) == (
        Action.LEGACY,
        Source.IMPORT,
        policy.deadline,
        None,
    )
    assert legacy.occurred_at == datetime(2023, 5, 1, tzinfo=UTC)
    assert legacy.note == "ticked the box at the till"
    assert legacy.context["import"] | {"key": None} == {
        "key": None,
        "file": "contacts.csv",
        "row": 2,
        "source": "shop signup 2021",
        "wording": "Yes, send me offers",
    }
    opt_out = ConsentEvent.objects.get(contact=ada, purpose="service")
    assert (opt_out.action, opt_out.notice, opt_out.note) == (
        Action.WITHDRAW,
        notice,
        "replied STOP by SMS",
    )
    assert opt_out.occurred_at == datetime(2024, 1, 2, 10, 30, tzinfo=UTC)
    states = dict(ConsentState.objects.filter(contact=ada).values_list("purpose", "status"))
    assert states == {"marketing": Status.LEGACY, "service": Status.OPTED_OUT}


def test_a_wa_id_alone_is_enough_and_spells_the_phone(policy, contacts_file, run_import):
    path = contacts_file(["wa_id", "marketing_status"], ["447911123456", "opted_out"])
    assert run_import(path).ok
    contact = Contact.objects.get()
    assert (str(contact.phone), contact.wa_id) == ("+447911123456", "447911123456")


def test_a_business_scoped_id_alone_is_enough(policy, contacts_file, run_import):
    path = contacts_file(["whatsapp_user_id", "service_status"], ["GB.99", "opted_out"])
    assert run_import(path).ok
    contact = Contact.objects.get()
    assert (contact.phone, contact.whatsapp_user_id) == (None, "GB.99")


def test_an_xlsx_with_numbers_and_date_cells_imports_like_a_csv(policy, contacts_file, run_import):
    path = contacts_file(
        ["phone", "name", "marketing_status", "marketing_date"],
        [447911123456, "Ada", "legacy", datetime(2023, 5, 1, 9, 0)],
        name="contacts.xlsx",
    )
    report = run_import(path)
    assert report.ok, report.errors.shown()
    event = ConsentEvent.objects.get()
    assert str(event.contact.phone) == "+447911123456"
    assert event.occurred_at == datetime(2023, 5, 1, 9, 0, tzinfo=UTC)


def problems_of(report):
    return [(p.row, p.column, p.message) for p in report.errors.shown()]


@pytest.mark.parametrize(
    ("header", "row", "column", "reason"),
    [
        (["phone"], ["12"], "phone", "12: too short for a UK number"),
        (["wa_id"], ["44-79"], "wa_id", "is not a WhatsApp id"),
        (["whatsapp_user_id"], ["GB 1"], "whatsapp_user_id", "no spaces"),
        (["phone", "name"], ["", "Ada"], "phone", "a row needs a phone, wa_id or whatsapp_user_id"),
        (["phone", "name"], ["+447911123456", "x" * 201], "name", "longer than 200"),
        (["phone", "language"], ["+447911123456", "English!"], "language", "not a language code"),
        (["phone", "tags"], ["+447911123456", "good;b@d"], "tags", "'b@d' is not a tag"),
        (["phone", "attr:note"], ["+447911123456", "x" * 1001], "attr:note", "longer than 1000"),
        (
            ["phone", "marketing_status"],
            ["+447911123456", "opted_in"],
            "marketing_status",
            "use legacy or opted_out",
        ),
        (
            ["phone", "marketing_status", "marketing_date"],
            ["+447911123456", "legacy", "01/05/2023"],
            "marketing_date",
            "is not a date",
        ),
        (
            ["phone", "marketing_status", "marketing_date"],
            ["+447911123456", "legacy", "2999-01-01"],
            "marketing_date",
            "is in the future",
        ),
        (
            ["phone", "marketing_date"],
            ["+447911123456", "2023-01-01"],
            "marketing_date",
            "given without marketing_status",
        ),
        (
            ["phone", "service_status", "service_notice"],
            ["+447911123456", "opted_out", "service/en/9"],
            "service_notice",
            "there is no notice service/en/9",
        ),
    ],
)
def test_each_bad_cell_is_named_by_row_column_and_reason(
    policy, contacts_file, run_import, header, row, column, reason
):
    report = run_import(contacts_file(header, row))

    assert not report.ok
    [(at, named, message)] = problems_of(report)
    assert (at, named) == (2, column)
    assert reason in message
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_a_notice_of_another_purpose_or_unpublished_is_refused(policy, contacts_file, run_import):
    marketing = NoticeFactory(purpose="marketing")
    draft = NoticeFactory(purpose="service", version=5, published_at=None)
    path = contacts_file(
        ["phone", "service_status", "service_notice"],
        ["+447911123456", "opted_out", marketing.ref],
        ["+447911123457", "opted_out", draft.ref],
    )
    assert problems_of(run_import(path)) == [
        (2, "service_notice", f"notice {marketing.ref} is for marketing, not service"),
        (3, "service_notice", f"notice {draft.ref} is not published"),
    ]


def test_legacy_needs_a_live_policy_but_an_opt_out_does_not(db, contacts_file, run_import):
    path = contacts_file(
        ["phone", "marketing_status"], ["+447911123456", "legacy"], ["+447911123457", "opted_out"]
    )
    [(row, column, message)] = problems_of(run_import(path))
    assert (row, column) == (2, "marketing_status") and "active re-consent policy" in message

    PolicyFactory(deadline=timezone.now() - timedelta(days=1))
    [(row, column, message)] = problems_of(run_import(path))
    assert (row, column) == (2, "marketing_status") and "has passed" in message

    opt_outs_only = contacts_file(["phone", "marketing_status"], ["+447911123457", "opted_out"])
    assert run_import(opt_outs_only).ok


def test_a_policy_chosen_by_id_cannot_outlast_the_active_deadline(
    policy, contacts_file, run_import
):
    later = PolicyFactory(active=False, deadline=policy.deadline + timedelta(days=30))
    path = contacts_file(["phone", "marketing_status"], ["+447911123456", "legacy"])
    [(_, column, message)] = problems_of(run_import(path, policy=later))
    assert column == "marketing_status" and "cannot outlast the re-consent deadline" in message

    earlier = PolicyFactory(active=False, deadline=policy.deadline - timedelta(days=10))
    assert run_import(path, policy=earlier).ok
    assert ConsentEvent.objects.get().expires_at == earlier.deadline


@pytest.mark.parametrize(
    ("header", "column", "reason"),
    [
        (["phone", "marketing_staus"], "marketing_staus", "unknown column"),
        (["phone", "Phone"], "Phone", "appears twice"),
        (["name", "marketing_status"], "", "needs a phone, wa_id or whatsapp_user_id column"),
        (["phone", "attr:"], "attr:", "needs a key"),
    ],
)
def test_a_bad_header_is_named(policy, contacts_file, run_import, header, column, reason):
    report = run_import(contacts_file(header, ["+447911123456", ""]))
    [(row, named, message)] = problems_of(report)
    assert (row, named) == (1, column) and reason in message


def test_a_person_appears_once_per_file(policy, contacts_file, run_import):
    path = contacts_file(
        ["phone", "wa_id", "external_id"],
        ["+447911123456", "", "a"],
        ["07911 123456", "", "b"],
        ["+447911123457", "", "a"],
        ["", "447911123456", ""],
    )
    assert problems_of(run_import(path)) == [
        (3, "phone", "phone +447911123456 is also on row 2: each person may appear once per file"),
        (4, "external_id", "external_id a is also on row 2: each person may appear once per file"),
        (5, "phone", "phone +447911123456 is also on row 2: each person may appear once per file"),
    ]


def test_identifiers_naming_two_contacts_are_refused(policy, contacts_file, run_import):
    ContactFactory(phone="+447911123456", wa_id=None)
    ContactFactory(phone="+447911123457", wa_id="447911123457", external_id="crm-9")
    path = contacts_file(["phone", "external_id"], ["+447911123456", "crm-9"])
    [(row, _, message)] = problems_of(run_import(path))
    assert row == 2 and message.startswith("external_id, phone name different contacts")


def test_an_identifier_never_replaces_the_one_a_contact_has(policy, contacts_file, run_import):
    ContactFactory(phone="+447911123456", wa_id="447911123456", external_id="crm-1")
    path = contacts_file(["phone", "external_id"], ["+447911123457", "crm-1"])
    [(row, column, message)] = problems_of(run_import(path))
    assert (row, column) == (2, "phone")
    assert message == "the contact this row names has phone +447911123456, not +447911123457"


def test_the_report_shows_the_first_hundred_and_counts_all(policy, contacts_file, run_import):
    path = contacts_file(["phone"], *([f"bad-{i}"] for i in range(150)))
    report = run_import(path)
    assert report.errors.count == 150
    shown = report.errors.shown()
    assert len(shown) == 100 and shown[0].row == 2 and shown[-1].row == 101
