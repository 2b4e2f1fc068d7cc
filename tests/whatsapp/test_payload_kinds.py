"""Every payload kind in Meta's own shape, and the ledger events it produces."""

from datetime import UTC, datetime

import pytest

from consent.models import ConsentEvent
from contacts.models import Contact
from tests.whatsapp.helpers import load_payload
from whatsapp.models import InboundEvent

pytestmark = pytest.mark.django_db

SENT_AT = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)


def ledger_of(wa_id=None, user_id=None):
    contact = (
        Contact.objects.get(wa_id=wa_id) if wa_id else Contact.objects.get(whatsapp_user_id=user_id)
    )
    return list(
        ConsentEvent.objects.filter(contact=contact)
        .order_by("seq")
        .values_list("purpose", "action", "source", "status_after")
    )


def test_text_stop_from_an_unknown_sender_creates_the_contact_and_opts_out(deliver, notices):
    deliver(load_payload("text_stop"))

    contact = Contact.objects.get(wa_id="447911123456")
    assert str(contact.phone) == "+447911123456"
    assert contact.whatsapp_user_id == "GB.1349857562938475"
    assert ledger_of("447911123456") == [("marketing", "withdraw", "whatsapp_keyword", "opted_out")]
    event = ConsentEvent.objects.get()
    assert event.wamid.startswith("wamid.HBgMNDQ3")
    assert event.occurred_at == SENT_AT
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED


def test_interactive_button_reply_grants_with_the_notice_the_message_carried(deliver, one_tap_sent):
    deliver(load_payload("interactive_button_reply"))

    event = ConsentEvent.objects.get()
    assert (event.purpose, event.action, event.source) == ("marketing", "grant", "whatsapp_button")
    assert event.notice.ref == "marketing/en/1"
    assert event.prompted_by_wamid == "wamid.OUTBOUND-ONE-TAP"
    assert event.wamid == "wamid.HBgMNDQ3OTExMTIzNDU2FQIAEhggQlVUVE9OUkVQTFkA"


def test_interactive_list_reply_grants_the_purpose_its_id_names(deliver, one_tap_sent):
    deliver(load_payload("interactive_list_reply"))

    assert ledger_of("447911123456") == [("service", "grant", "whatsapp_button", "opted_in")]
    assert ConsentEvent.objects.get().notice.ref == "service/en/1"


def test_template_quick_reply_withdraws(deliver, ada, notices):
    deliver(load_payload("template_button"))

    assert ledger_of(ada.wa_id) == [("marketing", "withdraw", "whatsapp_button", "opted_out")]
    assert ConsentEvent.objects.get().prompted_by_wamid == "wamid.OUTBOUND-TEMPLATE"


@pytest.mark.parametrize(
    "name", ["status_sent", "status_delivered", "status_read", "status_failed"]
)
def test_statuses_are_stored_processed_and_change_no_consent(deliver, ada, name):
    deliver(load_payload(name))

    row = InboundEvent.objects.get()
    assert row.kind == InboundEvent.Kind.STATUS
    assert row.state == InboundEvent.State.PROCESSED
    assert row.dedupe_key.startswith("status:wamid.OUTBOUND-CAMPAIGN:")
    assert not ConsentEvent.objects.exists()


def test_status_failed_with_131050_withdraws_marketing_as_a_platform_signal(deliver, ada):
    deliver(load_payload("status_failed_131050"))

    assert ledger_of(ada.wa_id) == [("marketing", "withdraw", "whatsapp_platform", "opted_out")]
    assert ConsentEvent.objects.get().prompted_by_wamid == "wamid.OUTBOUND-CAMPAIGN"


def test_user_preferences_stop_withdraws_marketing(deliver, ada):
    deliver(load_payload("user_preferences_stop"))

    assert ledger_of(ada.wa_id) == [("marketing", "withdraw", "whatsapp_platform", "opted_out")]
    assert "stop marketing" in ConsentEvent.objects.get().note


def test_user_preferences_resume_is_kept_as_evidence_but_is_no_opt_in(deliver, ada):
    deliver(load_payload("user_preferences_resume"))

    row = InboundEvent.objects.get()
    assert row.kind == InboundEvent.Kind.USER_PREFERENCE
    assert row.state == InboundEvent.State.PROCESSED
    assert row.payload["entry"][0]["changes"][0]["value"]["user_preferences"][0]["value"] == (
        "resume"
    )
    assert not ConsentEvent.objects.exists()


def test_several_messages_and_statuses_in_one_delivery_are_all_handled(deliver, notices):
    deliver(load_payload("several_messages"))

    assert InboundEvent.objects.filter(state=InboundEvent.State.PROCESSED).count() == 3
    assert ledger_of("447911123456") == [("marketing", "withdraw", "whatsapp_keyword", "opted_out")]
    assert ledger_of("447911123457") == [("marketing", "withdraw", "whatsapp_keyword", "opted_out")]
    assert Contact.objects.get(wa_id="447911123457").name == "Grace Hopper"


def test_an_unknown_message_type_is_stored_and_ignored(deliver, ada):
    response = deliver(load_payload("unknown_type"))

    assert response.status_code == 200
    row = InboundEvent.objects.get()
    assert (row.kind, row.state) == (InboundEvent.Kind.MESSAGE, InboundEvent.State.PROCESSED)
    assert not ConsentEvent.objects.exists()


def test_a_username_user_without_a_phone_is_known_by_the_business_scoped_id(deliver, notices):
    deliver(load_payload("text_username_only"))

    contact = Contact.objects.get(whatsapp_user_id="GB.5550001112223334")
    assert contact.phone is None and contact.wa_id is None
    assert ledger_of(user_id="GB.5550001112223334") == [
        ("marketing", "withdraw", "whatsapp_keyword", "opted_out")
    ]


def test_a_plain_question_records_nothing(deliver, ada):
    deliver(load_payload("text_free_form"))

    assert not ConsentEvent.objects.exists()
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED


def test_a_delivery_of_an_unknown_shape_is_stored_and_ignored(deliver):
    response = deliver({"object": "page", "entry": [{"id": "1", "changes": [{"field": "feed"}]}]})

    assert response.status_code == 200
    row = InboundEvent.objects.get()
    assert row.kind == InboundEvent.Kind.OTHER
    assert row.state == InboundEvent.State.PROCESSED


def test_a_group_join_request_reaches_the_group_handlers(deliver, extra_handlers):
    seen = []

    @extra_handlers("group_participants")
    def _groups(event):
        seen.append(event)

    deliver(load_payload("group_join_request"))

    row = InboundEvent.objects.get()
    assert (row.kind, row.state) == (InboundEvent.Kind.GROUP_PARTICIPANTS, "processed")
    [event] = seen
    assert event.type == "join_request_created"
    assert event.request_id == "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA="
    assert event.wa_id == "447911123456"
    assert event.group_id.startswith("Y2FwaV9ncm91cD")
