"""Topics on the preference centre in real Chromium on a 390 px phone, in English and Spanish."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from consent.models import TopicState
from consent.rules import Action, Source
from preferences.links import preference_url
from tests.browser.conftest import Phone
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory, TopicFactory, TopicNoticeFactory
from tests.topics.helpers import answer_topic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = {"width": 390, "height": 844}
WORDING = {
    ("offers", "en"): "Yes, send me Demo Shop's offers and discounts on WhatsApp.",
    ("offers", "es"): "Sí, envíenme las ofertas y descuentos de Demo Shop por WhatsApp.",
    ("new_arrivals", "en"): "Yes, tell me on WhatsApp when new products arrive at Demo Shop.",
    ("new_arrivals", "es"): "Sí, avísenme por WhatsApp cuando lleguen productos nuevos.",
}
NAMES = {"offers": ("Offers", "Ofertas"), "new_arrivals": ("New arrivals", "Novedades")}


@pytest.fixture
def phone390(chromium, axe_source):
    context = chromium.new_context(viewport=IPHONE, is_mobile=True, locale="en-GB")
    yield Phone(context, axe_source)
    context.close()


@pytest.fixture
def topics():
    for language in ("en", "es"):
        NoticeFactory(purpose="marketing", language=language)
    found = {}
    for key, (en, es) in NAMES.items():
        found[key] = TopicFactory(key=key, names={"en": en, "es": es}, descriptions={})
        for language in ("en", "es"):
            TopicNoticeFactory(topic=found[key], language=language, text=WORDING[(key, language)])
    return found


def person(topics, language: str):
    contact = ContactFactory(language=language)
    record(
        contact,
        Action.GRANT,
        "marketing",
        source=Source.WEB_FORM,
        at=timezone.now() - timedelta(days=3),
    )
    answer_topic(contact, topics["new_arrivals"], Action.GRANT)
    return contact


def status(contact, key: str) -> str:
    return TopicState.objects.get(contact=contact, topic__key=key).status


def test_keep_one_topic_and_leave_another_on_a_phone(phone390, topics):
    ada = person(topics, "en")
    page = phone390.page
    page.goto(preference_url(ada))
    offers = page.locator("#topic-marketing-offers")
    arrivals = page.locator("#topic-marketing-new_arrivals")
    expect(page.get_by_role("heading", name="Choose what you receive")).to_be_visible()
    expect(offers).to_contain_text(WORDING[("offers", "en")])
    expect(arrivals).to_contain_text(WORDING[("new_arrivals", "en")])
    phone390.screenshot("topics-01-en-390")
    phone390.check_accessibility()

    offers.get_by_label("I have read this and I agree").check()
    offers.get_by_role("button", name="Turn on Offers").click()
    expect(page.get_by_text("Done: you will receive Offers.")).to_be_visible()
    page.locator("#topic-marketing-new_arrivals").get_by_role(
        "button", name="Turn off New arrivals"
    ).click()
    expect(page.get_by_text("Done: you will no longer receive New arrivals.")).to_be_visible()
    phone390.screenshot("topics-02-en-changed-390")
    phone390.check_accessibility()

    assert (status(ada, "offers"), status(ada, "new_arrivals")) == ("opted_in", "opted_out")


def test_in_spanish_and_one_tap_still_leaves_everything(phone390, topics):
    lucia = person(topics, "es")
    page = phone390.page
    page.goto(preference_url(lucia))
    expect(page.get_by_role("heading", name="Elige lo que recibes")).to_be_visible()
    expect(page.locator("#topic-marketing-offers")).to_contain_text(WORDING[("offers", "es")])
    expect(page.locator("#topic-marketing-new_arrivals")).to_contain_text("Novedades")
    phone390.screenshot("topics-03-es-390")
    phone390.check_accessibility()

    page.locator("#purpose-marketing > form.action").first.get_by_role("button").click()
    expect(page.get_by_role("heading", name="Hemos guardado tu elección")).to_be_visible()

    assert status(lucia, "new_arrivals") == "opted_out"
