from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from tests.campaigns.conftest import make_contact
from whatsapp.events import StatusUpdate
from whatsapp.handlers import dispatch

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0)


@pytest.fixture
def message(campaign) -> Message:
    return Message.objects.create(
        campaign=campaign,
        contact=make_contact("opted_in"),
        status=MessageStatus.SENT,
        wamid="wamid.HBgLNDQ3OTExMTIzNDU2FQIAERgSQ0FNUEFJR04=",
        sent_at=T0,
    )


def webhook_status(message: Message, status: str, at, errors=()) -> None:
    """What the WhatsApp channel hands to every "status" handler."""
    dispatch(
        "status",
        StatusUpdate(
            wamid=message.wamid,
            status=status,
            timestamp=at,
            recipient_id=message.contact.wa_id,
            errors=list(errors),
            raw={},
        ),
    )
    message.refresh_from_db()


def test_statuses_in_order_move_the_message_forward_with_their_times(message):
    webhook_status(message, "sent", T0 + timedelta(seconds=1))
    webhook_status(message, "delivered", T0 + timedelta(seconds=2))
    assert message.status == MessageStatus.DELIVERED

    webhook_status(message, "read", T0 + timedelta(minutes=5))

    assert message.status == MessageStatus.READ
    assert message.sent_at == T0 + timedelta(seconds=1)
    assert message.delivered_at == T0 + timedelta(seconds=2)
    assert message.read_at == T0 + timedelta(minutes=5)


def test_a_delivered_arriving_after_read_keeps_read_but_records_its_time(message):
    webhook_status(message, "read", T0 + timedelta(minutes=5))

    webhook_status(message, "delivered", T0 + timedelta(seconds=2))

    assert message.status == MessageStatus.READ
    assert message.delivered_at == T0 + timedelta(seconds=2)


def test_a_late_sent_never_moves_a_delivered_message_back(message):
    webhook_status(message, "delivered", T0 + timedelta(seconds=2))

    webhook_status(message, "sent", T0 + timedelta(seconds=1))

    assert message.status == MessageStatus.DELIVERED


def test_failed_records_the_error_code_and_title(message):
    webhook_status(
        message, "failed", T0 + timedelta(seconds=3), errors=[(131026, "Message undeliverable")]
    )

    assert message.status == MessageStatus.FAILED
    assert (message.error_code, message.error_title) == ("131026", "Message undeliverable")
    assert message.failed_at == T0 + timedelta(seconds=3)


def test_a_failed_message_stays_failed_and_a_read_one_cannot_fail(message, campaign):
    webhook_status(message, "failed", T0, errors=[(131050, "User stopped marketing")])
    webhook_status(message, "delivered", T0 + timedelta(seconds=2))
    assert message.status == MessageStatus.FAILED

    read = Message.objects.create(
        campaign=campaign, contact=make_contact(), status=MessageStatus.READ, wamid="wamid.read"
    )
    webhook_status(read, "failed", T0, errors=[(131000, "Something went wrong")])
    assert read.status == MessageStatus.READ
    assert read.failed_at == T0


def test_a_failure_after_read_is_kept_as_a_late_failure_beside_the_history(message):
    webhook_status(message, "delivered", T0 + timedelta(seconds=2))
    webhook_status(message, "read", T0 + timedelta(minutes=5))

    webhook_status(
        message, "failed", T0 + timedelta(minutes=6), errors=[(131000, "Something went wrong")]
    )

    assert message.status == MessageStatus.READ
    assert (message.delivered_at, message.read_at) == (
        T0 + timedelta(seconds=2),
        T0 + timedelta(minutes=5),
    )
    assert (message.late_failure_code, message.late_failure_title) == (
        "131000",
        "Something went wrong",
    )
    assert message.failed_at == T0 + timedelta(minutes=6)
    assert (message.error_code, message.error_title) == ("", "")


def test_an_unknown_message_moves_forward_when_its_status_arrives(message):
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.UNKNOWN)

    webhook_status(message, "delivered", T0 + timedelta(seconds=2))

    assert message.status == MessageStatus.DELIVERED


def test_a_status_for_a_message_that_is_not_a_campaigns_is_ignored(db):
    dispatch(
        "status",
        StatusUpdate(
            wamid="wamid.someone-elses",
            status="delivered",
            timestamp=T0,
            recipient_id="447911123456",
            errors=[],
            raw={},
        ),
    )

    assert not Message.objects.exists()


def test_an_unknown_status_changes_nothing(message):
    webhook_status(message, "deleted", T0)

    assert message.status == MessageStatus.SENT
