"""Through the API, a source says who really acted; the product's own channels are never claimed.

A key speaks for an integration that captured the person's act (`web_form`, `api`);
a staff session records as `admin`, under its user and role, audited, and only what
its admin role lets it record (an opt-out, a pause). The channels the product runs
itself (WhatsApp, the preference centre, imports, the system) answer 400
`source_not_allowed`, whoever asks.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as Role
from rest_framework.test import APIClient

from consent.models import ConsentEvent, ConsentState
from consent.rules import Action
from contacts.models import Contact
from groups.models import Group, GroupInvitation, InvitationStatus
from groups.services import invite_contact
from staff.models import AuditEntry
from tests.api.conftest import assert_error, client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/consent-events/"
PHONE = "+447911123456"
PRODUCT_CHANNELS = [
    "whatsapp_button",
    "whatsapp_keyword",
    "whatsapp_platform",
    "preference_centre",
    "import",
    "system",
]


def grant(source: str, notice) -> dict:
    return {
        "phone": PHONE,
        "purpose": "marketing",
        "action": "grant",
        "source": source,
        "notice": notice.ref,
    }


def staff(role: str | None, *, superuser: bool = False) -> APIClient:
    users = get_user_model().objects
    if superuser:
        user = users.create_superuser("boss", "boss@example.com", "pw")
    else:
        user = users.create_user((role or "outsider").lower(), password="pw", is_staff=True)
    if role:
        user.groups.add(Role.objects.get(name=role))
    client = APIClient()
    client.force_login(user)
    client.user = user
    return client


@pytest.mark.parametrize("source", PRODUCT_CHANNELS)
@pytest.mark.parametrize("action", ["grant", "withdraw"])
def test_a_key_may_not_claim_a_product_channel(source, action, marketing_notice):
    api = client_with_key("consent:write")
    body = grant(source, marketing_notice) if action == "grant" else {
        "phone": PHONE, "purpose": "marketing", "action": "withdraw", "source": source,
    }  # fmt: skip

    response = api.post(URL, body, format="json")

    assert_error(response, 400, "source_not_allowed", "source")
    assert not ConsentEvent.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.parametrize("source", ["web_form", "api"])
def test_a_key_records_what_an_integration_captured(source, marketing_notice):
    api = client_with_key("consent:write")

    response = api.post(URL, grant(source, marketing_notice), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["source"] == source


def test_a_key_records_api_when_it_names_no_source():
    response = client_with_key("consent:write").post(
        URL, {"phone": PHONE, "purpose": "marketing", "action": "withdraw"}, format="json"
    )
    assert response.json()["source"] == "api"


def test_a_key_may_not_claim_to_be_staff():
    response = client_with_key("consent:write").post(
        URL,
        {"phone": PHONE, "purpose": "marketing", "action": "withdraw", "source": "admin"},
        format="json",
    )
    assert_error(response, 400, "source_not_allowed", "source")
    assert not ConsentEvent.objects.exists()


def test_an_unknown_source_is_still_an_invalid_choice():
    response = client_with_key("consent:write").post(
        URL,
        {"phone": PHONE, "purpose": "marketing", "action": "withdraw", "source": "fax"},
        format="json",
    )
    assert_error(response, 400, "invalid_choice", "source")


def test_a_marketing_session_cannot_opt_in_someone_who_sent_stop(marketing_notice):
    # given a person who sent STOP
    ada = ContactFactory(phone=PHONE)
    record(ada, Action.WITHDRAW, source="whatsapp_keyword")
    marketing = staff("Marketing")
    # when marketing forges the button, or records the grant as itself
    forged = marketing.post(URL, grant("whatsapp_button", marketing_notice), format="json")
    as_admin = marketing.post(
        URL, {**grant("admin", marketing_notice), "source": "admin"}, format="json"
    )
    # then neither is recorded and the person stays opted out
    assert_error(forged, 400, "source_not_allowed", "source")
    assert_error(as_admin, 403, "permission_denied")
    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_out"
    assert ada.consent_events.count() == 1


@pytest.mark.parametrize("action", ["grant", "request", "legacy"])
def test_no_staff_session_records_an_opt_in_not_even_a_superuser(action, marketing_notice):
    body = {"phone": PHONE, "purpose": "marketing", "action": action}
    if action != "legacy":
        body["notice"] = marketing_notice.ref
    else:
        body["expires_at"] = "2030-01-01T00:00:00Z"

    response = staff(None, superuser=True).post(URL, body, format="json")

    assert_error(response, 403, "permission_denied")
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("source", ["web_form", "api", *PRODUCT_CHANNELS])
def test_a_staff_session_may_not_speak_for_an_integration_or_a_channel(source):
    response = staff("Marketing").post(
        URL,
        {"phone": PHONE, "purpose": "marketing", "action": "withdraw", "source": source},
        format="json",
    )
    assert_error(response, 400, "source_not_allowed", "source")
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("source", [None, "admin"])
def test_a_staff_opt_out_records_as_admin_under_its_user_and_role_audited(source):
    ada = ContactFactory(phone=PHONE)
    marketing = staff("Marketing")
    body = {"phone": PHONE, "purpose": "marketing", "action": "withdraw"}
    if source:
        body["source"] = source

    response = marketing.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    event = ConsentEvent.objects.get(contact=ada)
    assert (event.source, event.actor_id) == ("admin", marketing.user.pk)
    assert event.context["staff_roles"] == ["Marketing"]
    audit = AuditEntry.objects.get(action="record_opt_out")
    assert (audit.actor_user_id, audit.actor_key, audit.object_id) == (
        marketing.user.pk,
        "",
        str(event.pk),
    )


def test_a_compliance_session_records_no_consent_at_all():
    ContactFactory(phone=PHONE)
    response = staff("Compliance").post(
        URL, {"phone": PHONE, "purpose": "marketing", "action": "withdraw"}, format="json"
    )
    assert_error(response, 403, "permission_denied")
    assert not ConsentEvent.objects.filter(action="withdraw").exists()


# --- Invitation answers: the person's pages and buttons are the product's ----------


@pytest.fixture
def invitation(db, marketing_notice) -> GroupInvitation:
    bob = ContactFactory()
    record(bob, Action.GRANT, notice=marketing_notice)
    return invite_contact(group=Group.objects.create(name="VIP", purpose="marketing"), contact=bob)


@pytest.mark.parametrize("source", ["whatsapp_button", "answer_page", "preference_centre"])
def test_a_key_may_not_claim_the_persons_own_answer_channel(invitation, source):
    response = client_with_key("groups:write").post(
        f"/api/v1/invitations/{invitation.pk}/respond/",
        {"answer": "accept", "source": source},
        format="json",
    )
    assert_error(response, 400, "source_not_allowed", "source")
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_a_key_records_the_answer_it_captured_as_api(invitation):
    response = client_with_key("groups:write").post(
        f"/api/v1/invitations/{invitation.pk}/respond/", {"answer": "accept"}, format="json"
    )
    assert response.status_code == 200, response.content
    invitation.refresh_from_db()
    assert (invitation.status, invitation.answer_source) == ("accepted", "api")


def test_a_staff_invitation_through_the_api_records_as_admin(marketing_notice):
    ada = ContactFactory(phone=PHONE)
    record(ada, Action.GRANT, notice=marketing_notice)
    group = Group.objects.create(name="VIP", purpose="marketing")

    response = staff("Marketing").post(
        f"/api/v1/groups/{group.pk}/invitations/", {"phone": PHONE}, format="json"
    )

    assert response.status_code == 201, response.content
    assert GroupInvitation.objects.get().invite_source == "admin"
