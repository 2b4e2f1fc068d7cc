"""Erasing a person and reading their evidence are powers apart: compliance, or their scopes.

Erasure (`DELETE /contacts/{id}/`) needs `contacts:erase`; personal evidence (IP, user
agent, page URL, note) and the proof bundle need `consent:evidence`. Staff: the
Compliance role, as in the admin. Without the power the event answers keep their shape
with those fields null, and the bundle answers 403.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as Role
from rest_framework.test import APIClient

from consent.rules import Action
from consent.services import Evidence
from contacts.models import Contact, Erasure
from staff.models import AuditEntry
from tests.api.conftest import assert_error, client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

PERSONAL = {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "page_url": "https://shop.example/"}
HIDDEN = {"ip": None, "user_agent": None, "page_url": None, "note": None}


def staff(role: str) -> APIClient:
    user = get_user_model().objects.create_user(role.lower(), password="pw", is_staff=True)
    user.groups.add(Role.objects.get(name=role))
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def ada(marketing_notice) -> Contact:
    contact = ContactFactory(phone="+447911123456")
    record(
        contact,
        Action.GRANT,
        notice=marketing_notice,
        evidence=Evidence(**PERSONAL, note="ticked the box", wamid="wamid.A1"),
    )
    return contact


# --- Erasure -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scopes", [("contacts:write",), ("contacts:read", "contacts:write", "consent:write")]
)
def test_writing_contacts_is_not_erasing_them(ada, scopes):
    response = client_with_key(*scopes).delete(f"/api/v1/contacts/{ada.pk}/")

    assert_error(response, 403, "permission_denied")
    ada.refresh_from_db()
    assert ada.erased_at is None


def test_a_key_with_contacts_erase_erases(ada):
    response = client_with_key("contacts:erase").delete(f"/api/v1/contacts/{ada.pk}/")

    assert response.status_code == 204
    ada.refresh_from_db()
    assert ada.erased_at is not None


def test_marketing_may_not_erase_through_the_api_as_in_the_admin(ada):
    response = staff("Marketing").delete(f"/api/v1/contacts/{ada.pk}/")

    assert_error(response, 403, "permission_denied")
    ada.refresh_from_db()
    assert ada.erased_at is None


def test_compliance_erases_through_the_api_as_in_the_admin(ada):
    response = staff("Compliance").delete(f"/api/v1/contacts/{ada.pk}/")

    assert response.status_code == 204
    ada.refresh_from_db()
    assert ada.erased_at is not None
    assert Erasure.objects.get(contact_id=ada.pk).erased_by == "compliance"
    audit = AuditEntry.objects.get(action="erase_contact")
    assert audit.actor_user.username == "compliance"


# --- Evidence ------------------------------------------------------------------------


def events_of(client, ada) -> list[dict]:
    return client.get("/api/v1/consent-events/", {"contact": ada.pk}).json()["results"]


def test_consent_read_sees_the_events_without_personal_evidence(ada):
    [event] = events_of(client_with_key("consent:read"), ada)

    assert event["evidence"] == {**HIDDEN, "wamid": "wamid.A1", "prompted_by_wamid": None}
    assert event["action"] == "grant" and event["hash"]


def test_consent_evidence_sees_it(ada):
    [event] = events_of(client_with_key("consent:read", "consent:evidence"), ada)

    assert event["evidence"] == {
        **PERSONAL,
        "note": "ticked the box",
        "wamid": "wamid.A1",
        "prompted_by_wamid": None,
    }


def test_the_recorded_event_echoes_no_evidence_without_the_scope(marketing_notice):
    body = {
        "phone": "+447911123457",
        "purpose": "marketing",
        "action": "grant",
        "source": "web_form",
        "notice": marketing_notice.ref,
        "evidence": PERSONAL,
    }

    writer = client_with_key("consent:write").post("/api/v1/consent-events/", body, format="json")
    witness = client_with_key("consent:write", "consent:evidence").post(
        "/api/v1/consent-events/", {**body, "phone": "+447911123458"}, format="json"
    )

    assert writer.json()["evidence"]["ip"] is None
    assert witness.json()["evidence"]["ip"] == PERSONAL["ip"]


def test_marketing_reads_the_ledger_without_evidence(ada):
    [event] = events_of(staff("Marketing"), ada)
    assert event["evidence"]["ip"] is None and event["evidence"]["note"] is None


def test_compliance_reads_the_evidence(ada):
    [event] = events_of(staff("Compliance"), ada)
    assert event["evidence"]["ip"] == PERSONAL["ip"]


def test_the_proof_without_the_scope_has_no_personal_evidence(ada):
    body = client_with_key("consent:read").get(f"/api/v1/contacts/{ada.pk}/proof/").json()

    assert [e["evidence"]["ip"] for e in body["events"]] == [None]
    assert body["chain"]["chain_valid"] is True


def test_the_proof_bundle_needs_consent_evidence(ada):
    url = f"/api/v1/contacts/{ada.pk}/proof/?format=bundle"

    refused = client_with_key("consent:read").get(url)
    bundle = client_with_key("consent:read", "consent:evidence").get(url)

    assert_error(refused, 403, "permission_denied")
    assert "consent:evidence" in refused.json()["errors"][0]["detail"]
    assert bundle.status_code == 200
    assert bundle.json()["events"][0]["evidence"]["ip"] == PERSONAL["ip"]


def test_the_proof_is_compliances_not_marketings(ada):
    url = f"/api/v1/contacts/{ada.pk}/proof/?format=bundle"

    assert_error(staff("Marketing").get(url), 403, "permission_denied")
    assert staff("Compliance").get(url).status_code == 200


def test_the_schema_says_which_scopes_erasure_and_evidence_need(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    paths = schema["paths"]

    assert "`contacts:erase`" in paths["/api/v1/contacts/{id}/"]["delete"]["description"]
    assert "consent:evidence" in paths["/api/v1/contacts/{id}/proof/"]["get"]["description"]
    evidence = schema["components"]["schemas"]["ConsentEvent"]["properties"]["evidence"]
    assert "consent:evidence" in str(evidence)
