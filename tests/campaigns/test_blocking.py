"""Staff block a person from the contact page (audited): ineligible for every purpose with
`reason: blocked`, and never sent anything, even what was queued before the block."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignKind, MessageStatus
from campaigns.services import launch_campaign
from consent.selectors import may_send, may_send_contacts, may_send_many
from contacts.blocking import block_contact, unblock_contact
from staff.models import AuditEntry
from tests.api.conftest import client_with_key
from tests.campaigns.conftest import make_contact, message_for, sent_to
from tests.consent_helpers import record
from tests.factories import ContactFactory
from whatsapp import delivery, outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db

PHONE = "+447911123456"


@pytest.fixture
def ada(db):
    contact = ContactFactory(phone=PHONE)
    record(contact, "grant", "marketing")
    record(contact, "grant", "service")
    return contact


def test_blocking_from_the_contact_page_is_audited(admin_client, admin_user, ada):
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[ada.pk]))
    assert b"Not blocked" in page.content

    response = admin_client.post(
        reverse("admin:contacts_contact_block", args=[ada.pk]), {"reason": "abusive replies"}
    )

    assert response.status_code == 302
    ada.refresh_from_db()
    assert ada.blocked_at is not None and ada.blocked_reason == "abusive replies"
    entry = AuditEntry.objects.get(action="block_contact")
    assert (entry.actor_user, entry.object_id, entry.after) == (
        admin_user,
        str(ada.pk),
        {"blocked": True, "reason": "abusive replies"},
    )
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[ada.pk]))
    assert b"Blocked since" in page.content

    admin_client.post(reverse("admin:contacts_contact_unblock", args=[ada.pk]))
    ada.refresh_from_db()
    assert ada.blocked_at is None
    assert AuditEntry.objects.filter(action="unblock_contact").count() == 1


def test_staff_without_change_permission_cannot_block(client, ada, django_user_model):
    viewer = django_user_model.objects.create_user("vic", password="pw", is_staff=True)
    client.force_login(viewer)

    response = client.post(reverse("admin:contacts_contact_block", args=[ada.pk]))

    assert response.status_code == 403
    ada.refresh_from_db()
    assert ada.blocked_at is None


def test_a_blocked_person_is_ineligible_for_every_purpose(ada, admin_user):
    api_client = client_with_key("consent:read")
    block_contact(contact=ada, actor=admin_user)

    for purpose in ("marketing", "service"):
        assert may_send(ada, purpose).reason == "blocked"
        assert may_send(PHONE, purpose).reason == "blocked"
        assert may_send_contacts([ada.pk], purpose)[ada.pk].reason == "blocked"
        [(_, decision)] = may_send_many([PHONE], purpose)
        assert (decision.allowed, decision.reason) == (False, "blocked")
        answer = api_client.get("/api/v1/eligibility/", {"phone": PHONE, "purpose": purpose})
        assert answer.json() | {"reason_label": "Blocked"} == {
            "phone": PHONE,
            "purpose": purpose,
            "allowed": False,
            "reason": "blocked",
            "reason_label": "Blocked",
        }
    bulk = api_client.post(
        "/api/v1/eligibility/bulk/", {"purpose": "service", "phones": [PHONE]}, format="json"
    )
    assert bulk.json()["results"][0]["reason"] == "blocked"

    unblock_contact(contact=ada, actor=admin_user)
    assert may_send(ada, "marketing").allowed


def test_a_blocked_person_is_never_sent_anything(
    ada, admin_user, whatsapp, django_capture_on_commit_callbacks
):
    # queued before the block: a reply without a purpose, and a service message
    address = whatsapp_address(phone=ada.phone, wa_id=ada.wa_id)
    with django_capture_on_commit_callbacks(execute=False):
        outbox.enqueue_template(
            address=address, name="order_update", language="en", contact_id=ada.pk
        )
        outbox.enqueue_template(
            address=address,
            name="order_update",
            language="en",
            contact_id=ada.pk,
            purpose="service",
        )
    block_contact(contact=ada, actor=admin_user)
    delivery.deliver(OutboundMessage.objects.values_list("pk", flat=True))
    assert set(OutboundMessage.objects.values_list("status", "skip_reason")) == {
        ("skipped", "blocked")
    }

    # and a campaign launched after it, beside someone who may receive it
    other = make_contact("opted_in")
    campaign = Campaign.objects.create(
        name="Winter sale",
        kind=CampaignKind.MARKETING,
        purpose="marketing",
        template_name="winter_sale",
        template_language="en",
    )
    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    assert sent_to(ada) == 0 and sent_to(other) == 1
    message = message_for(campaign, ada)
    assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "blocked")


def test_the_campaign_preview_counts_blocked_people_apart(ada, admin_user):
    from campaigns.selectors import preview_campaign

    block_contact(contact=ada, actor=admin_user)
    campaign = Campaign.objects.create(
        name="Winter sale",
        kind=CampaignKind.MARKETING,
        purpose="marketing",
        template_name="winter_sale",
        template_language="en",
    )

    preview = preview_campaign(campaign=campaign)

    assert preview.ineligible == {"blocked": 1}
