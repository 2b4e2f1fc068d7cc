"""Store first: a processing failure never loses the payload, and it can be re-run."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from consent.models import ConsentEvent
from tests.whatsapp.helpers import load_payload, with_message
from whatsapp.models import InboundEvent
from whatsapp.services import process_inbound_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_handler(extra_handlers):
    state = {"broken": True}

    @extra_handlers("message")
    def _flaky(event):
        if state["broken"]:
            raise RuntimeError("campaign database unavailable")

    return state


def test_a_failing_handler_keeps_the_row_with_its_error_and_rolls_back(
    deliver, ada, notices, broken_handler
):
    response = deliver(with_message("text_stop", at=timezone.now()))

    assert response.status_code == 200
    row = InboundEvent.objects.get()
    assert row.state == InboundEvent.State.FAILED
    assert "campaign database unavailable" in row.error
    assert row.payload["entry"][0]["changes"][0]["value"]["messages"][0]["type"] == "text"
    # the consent handler's withdraw was rolled back with the failure
    assert not ConsentEvent.objects.exists()


def test_reprocess_command_succeeds_once_fixed(deliver, ada, notices, broken_handler, capsys):
    deliver(with_message("text_stop", at=timezone.now()))
    broken_handler["broken"] = False

    call_command("reprocess_webhooks")

    row = InboundEvent.objects.get()
    assert row.state == InboundEvent.State.PROCESSED
    assert row.attempts == 2
    assert row.error == ""
    assert ConsentEvent.objects.get().action == "withdraw"
    assert "processed 1; 0 still failed" in capsys.readouterr().out


def test_reprocess_admin_action_succeeds_once_fixed(
    deliver, ada, notices, broken_handler, staff_client
):
    deliver(with_message("text_stop", at=timezone.now()))
    row = InboundEvent.objects.get()
    broken_handler["broken"] = False

    response = staff_client.post(
        "/admin/whatsapp/inboundevent/", {"action": "reprocess", "_selected_action": [row.pk]}
    )

    assert response.status_code == 302
    row.refresh_from_db()
    assert row.state == InboundEvent.State.PROCESSED
    assert ConsentEvent.objects.count() == 1


def test_a_processed_event_is_never_processed_twice(deliver, ada, notices):
    deliver(with_message("text_stop", at=timezone.now()))
    row = InboundEvent.objects.get()

    assert process_inbound_event(event_id=row.pk) is False
    assert process_inbound_event(event_id=row.pk, retry_failed=True) is False
    assert ConsentEvent.objects.count() == 1


def test_a_duplicate_delivery_is_acknowledged_and_not_stored_again(deliver, ada, notices):
    payload = with_message("text_stop", at=timezone.now())

    responses = [deliver(payload) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert InboundEvent.objects.count() == 1
    assert ConsentEvent.objects.count() == 1


def test_each_status_of_one_message_is_its_own_row(deliver, ada):
    for name in ("status_sent", "status_delivered", "status_read", "status_delivered"):
        deliver(load_payload(name))

    assert sorted(InboundEvent.objects.values_list("dedupe_key", flat=True)) == [
        "status:wamid.OUTBOUND-CAMPAIGN:delivered",
        "status:wamid.OUTBOUND-CAMPAIGN:read",
        "status:wamid.OUTBOUND-CAMPAIGN:sent",
    ]


def test_the_view_enqueues_only_after_commit(
    client, ada, notices, django_capture_on_commit_callbacks
):
    from tests.whatsapp.helpers import post_webhook

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_webhook(client, with_message("text_stop", at=timezone.now()))

    # stored, not yet processed: processing waits for the commit
    assert InboundEvent.objects.get().state == InboundEvent.State.RECEIVED
    assert len(callbacks) == 1
    callbacks[0]()
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED


def test_the_straggler_sweep_processes_rows_never_enqueued(client, ada, notices):
    from datetime import timedelta

    from tests.whatsapp.helpers import post_webhook
    from whatsapp.tasks import process_straggling_inbound_events

    post_webhook(client, with_message("text_stop", at=timezone.now()))  # on_commit never ran
    InboundEvent.objects.update(received_at=timezone.now() - timedelta(minutes=10))

    assert process_straggling_inbound_events() == 1
    assert ConsentEvent.objects.count() == 1


def test_a_malformed_body_is_kept_but_not_re_run(client, capsys):
    from tests.whatsapp.helpers import post_webhook

    post_webhook(client, b"not json")

    call_command("reprocess_webhooks")

    row = InboundEvent.objects.get()
    assert (row.kind, row.state, row.attempts) == ("malformed", "failed", 0)
    assert "processed 0; 0 still failed" in capsys.readouterr().out
