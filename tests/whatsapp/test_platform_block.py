"""Staff block a person: our own block holds at once, and the platform is told too
(`POST /<PHONE_NUMBER_ID>/block_users`, through the outbox); whatever WhatsApp answers —
a refusal, an outage — is kept for staff to read and never undoes ours.

The fake Graph API answers in the shapes of Meta's Block Users reference
(developers.facebook.com/documentation/business-messaging/whatsapp/block-users,
"Updated: May 21, 2026"): 200 with `block_users.added_users`, or 400 with error 139100
and `block_users.failed_users`.
"""

import pytest
from django.urls import reverse

from consent.selectors import may_send
from tests.factories import ContactFactory
from whatsapp import delivery
from whatsapp.models import OutboundMessage, SendingNumber

pytestmark = pytest.mark.django_db

NUMBER = "106540352242922"
OTHER = "106540352242999"
Kind, Status = OutboundMessage.Kind, OutboundMessage.Status


@pytest.fixture
def ada(db):
    return ContactFactory(phone="+447911123456", wa_id="447911123456")


def block(admin_client, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(
            reverse("admin:contacts_contact_block", args=[contact.pk]), {"reason": "abuse"}
        )
    return list(OutboundMessage.objects.filter(contact_id=contact.pk).order_by("phone_number_id"))


def contact_page(admin_client, contact) -> str:
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    return admin_client.get(url).content.decode()


def test_a_block_also_blocks_on_every_number_of_ours(
    graph, admin_client, ada, django_capture_on_commit_callbacks
):
    SendingNumber.objects.create(phone_number_id=OTHER, label="Shop")

    rows = block(admin_client, ada, django_capture_on_commit_callbacks)
    delivery.deliver([r.pk for r in rows])

    calls = graph.calls_to("POST", "/block_users")
    assert sorted(c.path for c in calls) == [
        f"/v23.0/{NUMBER}/block_users",
        f"/v23.0/{OTHER}/block_users",
    ]
    assert calls[0].json == {
        "messaging_product": "whatsapp",
        "block_users": [{"user": "447911123456"}],
    }
    for row in rows:
        row.refresh_from_db()
        assert (row.kind, row.status) == (Kind.BLOCK_USERS, Status.ACCEPTED)
        assert row.result["block_users"]["added_users"] == [
            {"input": "447911123456", "wa_id": "447911123456"}
        ]
    assert "Block on WhatsApp" in contact_page(admin_client, ada)


def test_a_refusal_is_kept_for_staff_and_our_block_holds(
    graph, admin_client, ada, django_capture_on_commit_callbacks
):
    graph.refuse_block_users.add("447911123456")

    [row] = block(admin_client, ada, django_capture_on_commit_callbacks)
    delivery.deliver([row.pk])

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.error_code == 131047
    assert "User has not messaged in the last 24 hours" in row.error_title
    assert row.result["error"]["code"] == 139100
    ada.refresh_from_db()
    assert ada.blocked_at is not None
    assert may_send(ada.phone, "service").reason == "blocked"
    page = contact_page(admin_client, ada)
    assert "User has not messaged in the last 24 hours" in page
    assert "Blocked since" in page


def test_an_outage_retries_and_never_undoes_our_block(
    graph, admin_client, ada, django_capture_on_commit_callbacks
):
    graph.fail_with = (503, {"error": {"message": "Service unavailable", "code": 2}})

    [row] = block(admin_client, ada, django_capture_on_commit_callbacks)
    outcome = delivery.deliver([row.pk])

    row.refresh_from_db()
    assert row.status == Status.QUEUED and outcome.remaining == [str(row.pk)]
    ada.refresh_from_db()
    assert ada.blocked_at is not None

    graph.fail_with = None
    OutboundMessage.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)
    delivery.deliver([row.pk])
    row.refresh_from_db()
    assert row.status == Status.ACCEPTED


def test_unblocking_deletes_the_platform_block(
    graph, admin_client, ada, django_capture_on_commit_callbacks
):
    block(admin_client, ada, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(reverse("admin:contacts_contact_unblock", args=[ada.pk]))
    row = OutboundMessage.objects.get(contact_id=ada.pk, kind=Kind.UNBLOCK_USERS)

    delivery.deliver([row.pk])

    [call] = graph.calls_to("DELETE", "/block_users")
    assert call.json["block_users"] == [{"user": "447911123456"}]
    row.refresh_from_db()
    assert row.status == Status.ACCEPTED
    assert row.result["block_users"]["removed_users"][0]["input"] == "447911123456"


def test_a_person_known_by_a_business_scoped_id_only_is_blocked_by_us_alone(
    graph, admin_client, django_capture_on_commit_callbacks
):
    sheena = ContactFactory(phone=None, wa_id=None, whatsapp_user_id="US.13491208655302741918")

    assert block(admin_client, sheena, django_capture_on_commit_callbacks) == []

    sheena.refresh_from_db()
    assert sheena.blocked_at is not None
    assert "business-scoped id only" in contact_page(admin_client, sheena)
