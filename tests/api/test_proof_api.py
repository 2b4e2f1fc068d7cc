"""/api/v1/contacts/{id}/proof/: the evidence a compliance officer hands over."""

from django.db import connection

from consent.models import ConsentEvent
from consent.rules import Action
from tests.api.conftest import assert_error
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.ledger_tampering import tamper


def test_proof_has_every_event_with_the_full_wording_and_a_valid_chain(
    api_client, marketing_notice
):
    contact = ContactFactory(phone="+447911123456")
    granted = record(contact, Action.GRANT, "marketing", notice=marketing_notice)
    withdrawn = record(contact, Action.WITHDRAW, "marketing")
    # when
    response = api_client.get(f"/api/v1/contacts/{contact.pk}/proof/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["contact"]["id"] == str(contact.pk)
    assert body["contact"]["phone"] == "+447911123456"
    assert [e["id"] for e in body["events"]] == [str(granted.pk), str(withdrawn.pk)]
    assert body["events"][0]["notice"] == "marketing/en/1"
    assert body["events"][0]["notice_text"] == marketing_notice.text
    assert body["events"][1]["notice_text"] is None
    assert body["chain"] == {
        "chain_valid": True,
        "events": 2,
        "broken_event": None,
        "problem": None,
    }
    assert body["consents"]["marketing"]["status"] == "opted_out"


def test_proof_survives_erasure(api_client):
    contact = ContactFactory()
    record(contact, Action.WITHDRAW, "marketing")
    api_client.delete(f"/api/v1/contacts/{contact.pk}/")
    body = api_client.get(f"/api/v1/contacts/{contact.pk}/proof/").json()
    assert body["contact"]["phone"] is None
    assert body["contact"]["erased_at"] is not None
    assert body["chain"]["chain_valid"] is True
    # the opt-out, then service and calls withdrawn at erasure
    assert [e["action"] for e in body["events"]] == ["withdraw", "withdraw", "withdraw"]


def test_proof_reports_a_tampered_chain(api_client):
    contact = ContactFactory()
    record(contact, Action.WITHDRAW, "marketing")
    event = ConsentEvent.objects.get()
    if connection.vendor == "postgresql":
        # Fire the deferred FK checks first: PostgreSQL refuses ALTER TABLE (which the
        # tampering helper uses to lift the append-only trigger) while any are pending.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    tamper(event.pk, "wamid", "edited")
    body = api_client.get(f"/api/v1/contacts/{contact.pk}/proof/").json()
    assert body["chain"]["chain_valid"] is False
    assert body["chain"]["broken_event"] == str(event.pk)


def test_proof_of_an_unknown_contact_is_404(api_client):
    response = api_client.get("/api/v1/contacts/3f2504e0-4f89-11d3-9a0c-0305e82c3301/proof/")
    assert_error(response, 404, "not_found")


def test_proof_needs_consent_read(make_client):
    contact = ContactFactory()
    response = make_client("contacts:read").get(f"/api/v1/contacts/{contact.pk}/proof/")
    assert_error(response, 403, "permission_denied")
