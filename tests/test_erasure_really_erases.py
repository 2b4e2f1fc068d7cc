"""Erasure removes the evidence, keeps the proof, and suppression outlives it."""

import itertools
from datetime import timedelta
from io import StringIO
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.scopes import SCOPES
from consent.chain import check_chain
from consent.models import ConsentEvent, ConsentEvidence
from consent.rules import Action, Source
from consent.selectors import Reason, WhatsAppUserId, may_send
from consent.services import Evidence
from contacts.models import Contact, Erasure
from contacts.selectors import Identifiers
from contacts.services import erase_person, resolve_or_create_contacts, upsert_contact
from imports.exports import ledger_rows as export_rows
from preferences.links import contact_for_token, preference_token
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.test_ledger_chain import play
from whatsapp.models import InboundEvent, OutboundMessage

pytestmark = pytest.mark.django_db

EXAMPLES = itertools.count(10000)
PERSONAL = Evidence(
    ip="203.0.113.9",
    user_agent="Mozilla/5.0 (Ada's phone)",
    page_url="https://shop.example/signup?email=ada@example.com",
    note="called from Ada's office",
)


def erased_person() -> Contact:
    contact = ContactFactory(
        phone="+447911123456", wa_id="447911123456", whatsapp_user_id="GB.bsuid.ada"
    )
    record(contact, Action.GRANT, evidence=PERSONAL)
    record(contact, Action.GRANT, "service", evidence=PERSONAL)
    erase_person(contact=contact, erased_by="dpo")
    contact.refresh_from_db()
    return contact


def test_evidence_survives_erasure_no_more():
    # given a person with evidence-rich events, erased
    contact = erased_person()

    # then no personal evidence is stored, and the ledger says when it went
    assert not ConsentEvidence.objects.filter(event__contact=contact).exclude(
        ip="", user_agent="", page_url="", note=""
    )
    client = client_with_key(*SCOPES)
    for url in (
        f"/api/v1/consent-events/?contact={contact.pk}",
        f"/api/v1/contacts/{contact.pk}/proof/",
    ):
        body = client.get(url).content.decode()
        for secret in ("203.0.113.9", "Ada's phone", "ada@example.com", "Ada's office"):
            assert secret not in body
        assert "at the person's request" in body
    events = list(ConsentEvent.objects.filter(contact=contact))
    erased_on = contact.erased_at.date().isoformat()
    assert all(e.evidence_statement.startswith(f"evidence erased on {erased_on}") for e in events)
    assert all(e.evidence_digest for e in events if e.source != Source.SYSTEM)


def test_the_chain_still_verifies_after_erasure():
    contact = erased_person()

    assert check_chain(contact.pk).valid
    call_command("verify_ledger", stdout=StringIO())


@pytest.mark.parametrize(
    "comes_back_with",
    [
        {"phone": "+447911123456"},
        {"wa_id": "447911123456"},
        {"whatsapp_user_id": "GB.bsuid.ada"},
    ],
)
def test_the_erased_person_comes_back_as_a_new_opted_out_contact(comes_back_with):
    erased = erased_person()

    # before they come back, their identifiers still answer opted out
    if "whatsapp_user_id" in comes_back_with:
        who = WhatsAppUserId(comes_back_with["whatsapp_user_id"])
        assert may_send(who, "marketing").reason == Reason.OPTED_OUT
    elif "phone" in comes_back_with:
        assert may_send(comes_back_with["phone"], "marketing").reason == Reason.OPTED_OUT

    again = resolve_or_create_contacts(Identifiers(**comes_back_with)).primary

    assert again.pk != erased.pk and again.erased_at is None
    for purpose in ("marketing", "service"):
        assert may_send(again, purpose).reason == Reason.OPTED_OUT
    carried = again.consent_events.get(purpose="marketing")
    erasure = Erasure.objects.get(contact_id=erased.pk)
    assert (carried.action, carried.source) == (Action.WITHDRAW, Source.SYSTEM)
    assert carried.context["suppressed_by_erasure"] == erasure.pk
    # the returning person can manage their consent
    assert contact_for_token(preference_token(again)) == again
    # and the erased record was not revived
    erased.refresh_from_db()
    assert erased.erased_at is not None and erased.phone is None


def test_re_upserting_the_phone_never_revives_the_erased_contact():
    erased = erased_person()

    again, created = upsert_contact(phone="+447911123456")
    once_more, created_again = upsert_contact(phone="+447911123456")

    assert created and again.pk != erased.pk
    assert (once_more.pk, created_again) == (again.pk, False)
    # one carried opt-out per purpose: marketing, service, calls
    assert list(again.consent_events.values_list("action", flat=True)) == ["withdraw"] * 3


def test_erasure_blanks_message_bodies_in_webhook_storage_and_the_outbox():
    contact = ContactFactory(phone="+447911123456", wa_id="447911123456")
    inbound = InboundEvent.objects.create(
        kind=InboundEvent.Kind.MESSAGE,
        dedupe_key="wamid.in1",
        wamid="wamid.in1",
        payload={"messages": [{"from": "447911123456", "text": {"body": "my secret"}}]},
    )
    outbound = OutboundMessage.objects.create(
        to="447911123456",
        contact_id=contact.pk,
        kind=OutboundMessage.Kind.TEXT,
        payload={"to": "447911123456", "text": {"body": "hello Ada"}},
        backend="console",
        status=OutboundMessage.Status.ACCEPTED,
    )

    erase_person(contact=contact)

    inbound.refresh_from_db()
    outbound.refresh_from_db()
    assert "secret" not in str(inbound.payload) and inbound.wamid == "wamid.in1"
    assert "Ada" not in str(outbound.payload) and outbound.to == ""
    assert outbound.status == OutboundMessage.Status.ACCEPTED


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), steps=st.integers(min_value=0, max_value=6))
def test_any_history_then_erasure_leaves_a_valid_chain_no_evidence_and_full_suppression(
    data, steps
):
    # given a random legal history with personal evidence on every event
    n = next(EXAMPLES)
    phone, user_id = f"+4479111{n:05d}", f"GB.bsuid.{n}"
    contact = ContactFactory(phone=phone, wa_id=phone.lstrip("+"), whatsapp_user_id=user_id)
    with patch("tests.consent_helpers.Evidence", lambda **_: PERSONAL):
        play(data, contact, steps)
    inbound = InboundEvent.objects.create(
        kind=InboundEvent.Kind.MESSAGE,
        dedupe_key=f"wamid.{contact.pk}",
        payload={"messages": [{"from": phone.lstrip("+"), "text": {"body": "Ada's office"}}]},
    )

    # when the person is erased
    erase_person(contact=contact)

    # then the chain verifies, nothing personal is readable, and every identifier is suppressed
    assert check_chain(contact.pk).valid
    client = client_with_key(*SCOPES)
    surfaces = [
        client.get(f"/api/v1/consent-events/?contact={contact.pk}").content.decode(),
        client.get(f"/api/v1/contacts/{contact.pk}/proof/").content.decode(),
        str(list(ConsentEvidence.objects.values())),
        str(InboundEvent.objects.get(pk=inbound.pk).payload),
        "".join(ledger_rows(contact)),
    ]
    for surface in surfaces:
        for secret in ("203.0.113.9", "Ada's phone", "ada@example.com", "Ada's office"):
            assert secret not in surface
    for purpose in ("marketing", "service"):
        assert may_send(phone, purpose).reason == Reason.OPTED_OUT
        assert may_send(WhatsAppUserId(user_id), purpose).reason == Reason.OPTED_OUT
    for ids in ({"wa_id": phone.lstrip("+")}, {"whatsapp_user_id": user_id}):
        again = resolve_or_create_contacts(Identifiers(**ids)).primary
        assert again.pk != contact.pk
        assert may_send(again, "marketing").reason == Reason.OPTED_OUT


def ledger_rows(contact: Contact) -> list[str]:
    far = timedelta(days=3650)
    rows = export_rows(timezone.now() - far, timezone.now() + far)
    return [str(row) for row in rows if str(contact.pk) in str(row)]
