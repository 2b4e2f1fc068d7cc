"""The preference centre shows each topic under its purpose with its exact wording; a person
keeps or leaves one topic, and turning the purpose off still leaves everything in one tap."""

import pytest

from consent.models import ConsentEvent, TopicState
from consent.rules import Action, Source
from preferences.links import preference_path
from tests.consent_helpers import record
from tests.factories import ContactFactory, TopicFactory, TopicNoticeFactory
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers(db):
    topic = TopicFactory(
        key="offers",
        names={"en": "Offers", "es": "Ofertas"},
        descriptions={"en": "Discounts, weekly.", "es": "Descuentos, semanales."},
    )
    TopicNoticeFactory(topic=topic, language="en", text="Yes, send me offers.")
    TopicNoticeFactory(topic=topic, language="es", text="Sí, envíenme ofertas.")
    return topic


def topic_status(contact, topic) -> str | None:
    state = TopicState.objects.filter(contact=contact, topic=topic).first()
    return state.status if state else None


def test_a_topic_shows_under_its_purpose_with_its_wording(client, contact, page, offers):
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)

    html = client.get(page).content.decode()

    assert 'id="topic-marketing-offers"' in html
    assert "Discounts, weekly." in html and "Yes, send me offers." in html
    assert "Turn on Offers" in html


def test_topics_wait_for_their_purpose(client, contact, page, offers):
    html = client.get(page).content.decode()

    assert "Turn on Offers and news first to choose topics." in html
    assert "Turn on Offers<" not in html


def test_a_person_turns_a_topic_on_after_reading_its_wording(client, contact, page, offers):
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)

    answer = client.post(
        f"{page}topics/",
        {
            "action": "grant",
            "purpose": "marketing",
            "topic": "offers",
            "notice": "marketing/offers/en/1",
            "agree": "on",
        },
        follow=True,
    )

    assert "Done: you will receive Offers." in answer.content.decode()
    assert topic_status(contact, offers) == "opted_in"
    event = ConsentEvent.objects.get(contact=contact, topic="offers")
    assert (event.source, event.notice.ref) == ("preference_centre", "marketing/offers/en/1")


def test_an_unticked_box_turns_nothing_on(client, contact, page, offers):
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)

    answer = client.post(
        f"{page}topics/",
        {
            "action": "grant",
            "purpose": "marketing",
            "topic": "offers",
            "notice": "marketing/offers/en/1",
        },
    )

    assert answer.status_code == 400
    assert "Tick the box" in answer.content.decode()
    assert topic_status(contact, offers) is None


def test_one_tap_turns_a_topic_off(client, contact, page, offers):
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)
    answer_topic(contact, offers, Action.GRANT)

    answer = client.post(
        f"{page}topics/",
        {"action": "withdraw", "purpose": "marketing", "topic": "offers"},
        follow=True,
    )

    assert "Done: you will no longer receive Offers." in answer.content.decode()
    assert topic_status(contact, offers) == "opted_out"


def test_turning_the_purpose_off_leaves_every_topic_in_one_tap(client, contact, page, offers):
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)
    answer_topic(contact, offers, Action.GRANT)

    client.post(f"{page}change/", {"action": "withdraw", "purpose": "marketing"})

    assert topic_status(contact, offers) == "opted_out"
    assert "You said no to Offers" in client.get(page).content.decode()


def test_an_unknown_topic_is_refused_with_a_400(client, contact, page, offers):
    answer = client.post(
        f"{page}topics/", {"action": "withdraw", "purpose": "marketing", "topic": "x"}
    )

    assert answer.status_code == 400


def test_the_topics_speak_spanish_with_the_spanish_wording(client, offers):
    lucia = ContactFactory(name="Lucía", language="es")
    record(lucia, Action.GRANT, "marketing", source=Source.WEB_FORM)

    html = client.get(preference_path(lucia)).content.decode()

    assert "Ofertas" in html and "Descuentos, semanales." in html
    assert "Sí, envíenme ofertas." in html
    assert "Elige lo que recibes" in html
