import pytest
from django.test import Client

from consent.models import ConsentEvent
from consent.rules import Action
from tests.consent_helpers import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_client() -> Client:
    return Client(enforce_csrf_checks=True)


def test_a_change_without_the_csrf_token_is_refused(strict_client, contact, page):
    record(contact, Action.GRANT, "marketing")
    response = strict_client.post(f"{page}change/", {"action": "withdraw", "purpose": "marketing"})
    assert response.status_code == 403
    assert ConsentEvent.objects.filter(contact=contact).count() == 1


def test_a_change_with_the_csrf_token_from_the_page_is_accepted(strict_client, contact, page):
    record(contact, Action.GRANT, "marketing")
    strict_client.get(page)
    token = strict_client.cookies["csrftoken"].value
    response = strict_client.post(
        f"{page}change/",
        {"action": "withdraw", "purpose": "marketing", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert ConsentEvent.objects.filter(contact=contact).count() == 2


def test_undo_and_invitation_answers_need_the_csrf_token(strict_client, page):
    assert strict_client.post(f"{page}undo/", {}).status_code == 403
    assert strict_client.post(f"{page}invitations/", {}).status_code == 403


def test_the_opt_in_page_needs_the_csrf_token(strict_client, notices):
    response = strict_client.post("/opt-in/", {"phone": "+447911123456", "agree_marketing": "on"})
    assert response.status_code == 403


def test_the_invitation_page_needs_the_csrf_token(strict_client, contact):
    from groups.models import Group, GroupInvitation

    invitation = GroupInvitation.objects.create(
        group=Group.objects.create(name="Early birds"),
        contact=contact,
        expires_at="2099-01-01T00:00:00Z",
    )
    response = strict_client.post(f"/invitations/{invitation.token}/", {"answer": "accept"})
    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == "pending"
