"""Opt-outs in free text: clear ones are honoured, doubtful ones go to a person."""

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from conversation.keywords import read_free_text
from conversation.models import OptOutReview
from tests.whatsapp.helpers import with_message

pytestmark = pytest.mark.django_db


def said(text):
    return with_message("text_stop", at=timezone.now(), body=text)


@pytest.mark.parametrize(
    "text",
    [
        "please stop sending me offers",
        "Please STOP sending me these messages!",
        "no más mensajes por favor",
        "quiero darme de baja",
        "unsubscribe me please",
        "arrêtez de m'envoyer des pubs",
        "keine Werbung mehr bitte",
        "parem de enviar mensagens",
        "jangan kirim pesan lagi",
    ],
)
def test_a_clear_request_to_stop_opts_out_of_marketing(deliver, ada, notices, text):
    deliver(said(text))

    event = ConsentEvent.objects.get()
    assert (event.purpose, event.action, event.source) == (
        "marketing",
        "withdraw",
        "whatsapp_keyword",
    )
    assert event.note.startswith("free text")
    assert not OptOutReview.objects.exists()


@pytest.mark.parametrize(
    "text",
    ["I can't stop smiling, the shoes are great", "Where is the bus stop near your shop?"],
)
def test_a_doubtful_message_is_queued_for_a_person_and_changes_nothing(deliver, ada, notices, text):
    deliver(said(text))

    assert not ConsentEvent.objects.exists()
    review = OptOutReview.objects.get()
    assert review.contact == ada
    assert review.text == text
    assert review.decision == OptOutReview.Decision.PENDING


def test_an_unrelated_message_is_neither_an_opt_out_nor_queued(deliver, ada, notices):
    deliver(said("What time do you open on Sunday?"))

    assert not ConsentEvent.objects.exists()
    assert not OptOutReview.objects.exists()


def test_staff_confirming_a_review_records_the_opt_out_at_the_message_time(
    deliver, ada, notices, staff_client
):
    deliver(said("I can't stop smiling, the shoes are great"))
    review = OptOutReview.objects.get()

    response = staff_client.post(
        "/admin/conversation/optoutreview/",
        {"action": "confirm_opt_out", "_selected_action": [review.pk]},
    )

    assert response.status_code == 302
    review.refresh_from_db()
    assert review.decision == OptOutReview.Decision.OPTED_OUT
    assert review.decided_by == staff_client.user
    event = ConsentEvent.objects.get()
    assert event.occurred_at == review.received_at
    assert event.actor == staff_client.user
    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_out"


def test_staff_dismissing_a_review_records_nothing(deliver, ada, notices, staff_client):
    deliver(said("Where is the bus stop near your shop?"))
    review = OptOutReview.objects.get()

    staff_client.post(
        "/admin/conversation/optoutreview/",
        {"action": "dismiss_opt_out", "_selected_action": [review.pk]},
    )

    review.refresh_from_db()
    assert review.decision == OptOutReview.Decision.DISMISSED
    assert not ConsentEvent.objects.exists()


def test_reading_free_text_is_plain_and_predictable():
    assert read_free_text("stop texting me").kind == "opt_out"
    assert read_free_text("the stop was fine").kind == "review"
    assert read_free_text("thanks!").kind == "none"
