"""Statuses arriving through the real signed webhook update the campaign's messages."""

import pytest

from campaigns.models import Message, MessageStatus
from campaigns.selectors import campaign_opt_outs
from consent.selectors import may_send
from tests.factories import ContactFactory
from tests.whatsapp.helpers import SECRET, load_payload, post_webhook

pytestmark = pytest.mark.django_db

WAMID = "wamid.OUTBOUND-CAMPAIGN"  # the id in the status payloads


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.WHATSAPP_APP_SECRET = SECRET


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def _deliver(name: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook(client, load_payload(name))
        assert response.status_code == 200

    return _deliver


@pytest.fixture
def message(campaign) -> Message:
    ada = ContactFactory(phone="+447911123456", wa_id="447911123456", name="Ada Lovelace")
    return Message.objects.create(
        campaign=campaign, contact=ada, status=MessageStatus.SENT, wamid=WAMID
    )


def test_read_then_a_late_delivered_leaves_the_message_read(message, deliver):
    deliver("status_read")
    deliver("status_delivered")

    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert message.read_at is not None and message.delivered_at is not None


def test_a_131050_failure_fails_the_message_and_counts_as_the_campaigns_opt_out(
    message, deliver, campaign
):
    deliver("status_failed_131050")

    message.refresh_from_db()
    assert (message.status, message.error_code) == (MessageStatus.FAILED, "131050")
    assert message.error_title.startswith("Unable to deliver the message")
    assert may_send(message.contact, "marketing").reason == "opted_out"
    [opt_out] = campaign_opt_outs(campaign)
    assert (opt_out.message, opt_out.event.source) == (message, "whatsapp_platform")
