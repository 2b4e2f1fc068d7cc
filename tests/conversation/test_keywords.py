"""STOP and its translations, STOP ALL, START, PREFERENCES; the lists live in the admin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from consent.rules import Action, Source, Status
from consent.selectors import consent_states
from conversation.keywords import match_keyword, normalize_text
from conversation.models import ConsentKeyword
from tests.consent_helpers import record
from tests.whatsapp.helpers import with_message
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def stop(text, **kw):
    return with_message("text_stop", at=timezone.now(), body=text, **kw)


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "  Stop  ",
        "Stop.",
        "UNSUBSCRIBE",
        "stop promotions",
        "STOP   PROMOTIONS",
        "BAJA",
        "no más",
        "PARAR",
        "Parar promoções",
        "ARRÊT",
        "arret",
        "désabonner",
        "STOPP",
        "abmelden",
        "BASTA",
        "disiscrivimi",
        "band karo",
        "BERHENTI",
        "berhenti langganan",
    ],
)
def test_stop_keywords_in_every_language_opt_out_of_marketing_only(deliver, ada, notices, text):
    deliver(stop(text))

    event = ConsentEvent.objects.get()
    assert (event.purpose, event.action, event.source) == (
        "marketing",
        "withdraw",
        "whatsapp_keyword",
    )
    assert not ConsentState.objects.filter(contact=ada, purpose="service").exists()


@pytest.mark.parametrize("text", ["STOP ALL", "stop all", "Baja todo", "STOPP ALLES", "sab band"])
def test_stop_all_opts_out_of_every_purpose(deliver, ada, notices, text):
    deliver(stop(text))

    assert sorted(ConsentEvent.objects.values_list("purpose", flat=True)) == [
        "calls",
        "marketing",
        "service",
    ]


def test_each_opt_out_is_confirmed_with_how_to_opt_back_in(deliver, ada, notices):
    deliver(stop("STOP"))

    reply = OutboundMessage.objects.get()
    assert reply.kind == OutboundMessage.Kind.TEXT
    assert reply.to == ada.wa_id
    assert "START" in reply.payload["text"]["body"]


@pytest.mark.parametrize("text", ["START", "subscribe", "Alta"])
def test_start_sends_the_one_tap_opt_in_and_records_nothing(deliver, ada, notices, text):
    deliver(stop(text))

    assert not ConsentEvent.objects.exists()
    sent = OutboundMessage.objects.get()
    assert sent.kind == OutboundMessage.Kind.BUTTONS
    buttons = sent.payload["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == [
        "consent:marketing:grant",
        "consent:marketing:withdraw",
    ]
    assert sent.notice_refs == ["marketing/en/1"]


def test_preferences_replies_with_a_fresh_preference_link(deliver, ada, notices):
    from preferences import links

    deliver(stop("PREFERENCES"))

    reply = OutboundMessage.objects.get()
    assert links.preference_url(ada).split("/preferences/")[0] in reply.payload["text"]["body"]
    assert "/preferences/" in reply.payload["text"]["body"]
    assert not ConsentEvent.objects.exists()


def test_a_deactivated_keyword_no_longer_opts_out(deliver, ada, notices):
    ConsentKeyword.objects.filter(phrase="basta").update(active=False)

    deliver(stop("BASTA"))

    assert not ConsentEvent.objects.filter(action="withdraw").exists()


def test_a_keyword_added_in_the_admin_is_honoured(deliver, ada, notices):
    ConsentKeyword.objects.create(phrase="  Enough Already! ", language="en", meaning="stop")

    deliver(stop("enough already"))

    assert ConsentEvent.objects.get().action == "withdraw"


def test_the_default_lists_cover_the_required_languages():
    languages = set(ConsentKeyword.objects.values_list("language", flat=True))
    assert {"en", "es", "pt", "fr", "de", "it", "hi-Latn", "id"} <= languages
    assert match_keyword("STOP PROMOTIONS") == "stop"
    assert match_keyword("stop all") == "stop_all"


def test_normalisation_ignores_case_accents_punctuation_and_spaces():
    assert normalize_text("  ¡No   MÁS! ") == "no mas"
    assert normalize_text("Arrêt.") == "arret"


def test_a_repeated_delivery_of_the_same_stop_replies_once(deliver, ada, notices):
    payload = stop("STOP")
    deliver(payload)
    deliver(payload)

    assert ConsentEvent.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


# --- START after a stop: an answer inside the window the person opened, or nothing -------


def start(at, wamid="wamid.START-AFTER-STOP"):
    return with_message("text_stop", at=at, body="START", id=wamid)


@pytest.fixture
def ada_stopped(ada, notices):
    record(ada, Action.WITHDRAW, "marketing", source=Source.WHATSAPP_KEYWORD)
    return ada


def test_start_after_a_stop_answers_with_reply_buttons_and_no_template_to_fall_back_on(
    deliver, ada_stopped
):
    deliver(start(timezone.now()))

    sent = OutboundMessage.objects.get()
    assert sent.kind == OutboundMessage.Kind.BUTTONS
    assert sent.fallback_payload is None
    assert sent.notice_refs == ["marketing/en/1"]
    # Never a silent opt-in: the person's tap on "Yes" is what records one.
    assert consent_states(ada_stopped)["marketing"].status == Status.OPTED_OUT
    assert not ConsentEvent.objects.filter(action=Action.GRANT, source=Source.WHATSAPP_KEYWORD)


def test_a_start_processed_after_its_window_closed_sends_nothing(deliver, ada_stopped):
    # An outage: the START is processed 25 hours after the person sent it.
    deliver(start(timezone.now() - timedelta(hours=25)))

    assert not OutboundMessage.objects.exists()
    assert consent_states(ada_stopped)["marketing"].status == Status.OPTED_OUT


def test_a_start_answer_delivered_after_the_window_closed_is_not_replaced_by_a_template(
    deliver, ada_stopped, graph
):
    # The window closes between queueing and sending: the platform answers 131047.
    graph.error(131047, message="Re-engagement message")

    deliver(start(timezone.now()))

    sent = OutboundMessage.objects.get()
    assert (sent.status, sent.kind, sent.error_code) == (
        OutboundMessage.Status.FAILED,
        OutboundMessage.Kind.BUTTONS,
        131047,
    )
    assert [call.json["type"] for call in graph.requests] == ["interactive"]
