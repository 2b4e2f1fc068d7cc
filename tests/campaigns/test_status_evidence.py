"""Statuses that name our outbox row (`biz_opaque_callback_data`): a send whose answer was
lost is proved delivered, and a status faster than our own record still finds its message."""

import copy

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.services import fan_out_campaign, launch_campaign, send_campaign_batch
from tests.campaigns.conftest import make_contact, message_for
from tests.whatsapp.helpers import SECRET, load_payload, post_webhook, value_of
from whatsapp import delivery
from whatsapp.exceptions import OutcomeUnknown
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.WHATSAPP_APP_SECRET = SECRET


def status_for(outbound: OutboundMessage, status: str, wamid: str) -> dict:
    payload = copy.deepcopy(load_payload("status_delivered"))
    item = value_of(payload)["statuses"][0]
    item.update(
        id=wamid,
        status=status,
        timestamp=str(int(timezone.now().timestamp())),
        biz_opaque_callback_data=str(outbound.pk),
    )
    return payload


def deliver(client, capture, payload) -> None:
    with capture(execute=True):
        assert post_webhook(client, payload).status_code == 200


def test_a_delivered_status_settles_a_send_whose_fate_was_unknown(
    client, campaign, whatsapp, django_capture_on_commit_callbacks
):
    contact = make_contact("opted_in")
    whatsapp.fail_next(contact, OutcomeUnknown("read timeout"))
    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)
    outbound = OutboundMessage.objects.get()
    assert outbound.status == "unknown"

    deliver(
        client,
        django_capture_on_commit_callbacks,
        status_for(outbound, "delivered", "wamid.PROVED"),
    )

    outbound.refresh_from_db()
    assert (outbound.status, outbound.wamid, outbound.resolution) == (
        "accepted",
        "wamid.PROVED",
        "",
    )
    message = message_for(campaign, contact)
    assert (message.status, message.wamid) == (MessageStatus.DELIVERED, "wamid.PROVED")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DONE


def test_a_status_before_our_own_record_still_finds_its_message(
    client, campaign, whatsapp, django_capture_on_commit_callbacks
):
    # the message is with the outbox; the platform's "sent" comes first
    make_contact("opted_in")
    Campaign.objects.filter(pk=campaign.pk).update(status="launched", launched_at=timezone.now())
    fan_out_campaign(campaign_id=campaign.pk)
    message = Message.objects.get()
    send_campaign_batch(
        campaign_id=campaign.pk, first_message_id=message.pk, last_message_id=message.pk
    )
    outbound = OutboundMessage.objects.get()

    deliver(client, django_capture_on_commit_callbacks, status_for(outbound, "sent", "wamid.EARLY"))

    message.refresh_from_db()
    assert (message.status, message.wamid) == (MessageStatus.SENT, "wamid.EARLY")
    assert message.sent_at is not None


def test_a_callback_that_is_not_ours_changes_nothing(client, django_capture_on_commit_callbacks):
    payload = copy.deepcopy(load_payload("status_delivered"))
    value_of(payload)["statuses"][0]["biz_opaque_callback_data"] = "not-a-row-id"

    deliver(client, django_capture_on_commit_callbacks, payload)

    assert not OutboundMessage.objects.exists()


def test_staffs_decision_on_an_unknown_send_stands(db):
    from whatsapp import outbox
    from whatsapp.addressing import whatsapp_address

    row = outbox.enqueue_template(
        address=whatsapp_address(wa_id="447911123456"), name="t", language="en"
    )
    OutboundMessage.objects.filter(pk=row.pk).update(status="unknown", resolution="sent_again")

    assert not delivery.settle_from_evidence(outbound_id=str(row.pk), wamid="wamid.LATE")
