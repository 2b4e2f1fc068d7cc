"""Marketing per business number on Ada's page, in real Chromium at 390 px: she stopped
offers on the Shop's number only. Scope `number`: the page shows the Shop off and the
Outlet on, and she turns the Outlet off too; scope `business`: one answer, as before."""

import pytest
from playwright.sync_api import expect

from consent.number_scope import marketing_by_number
from consent.rules import Action, Source
from consent.services import Evidence
from preferences.links import preference_url
from tests.browser.conftest import Phone
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory
from whatsapp.models import SendingNumber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

A, B = "106540352242922", "209876543210987"


@pytest.fixture
def phone_390(chromium, axe_source):
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-GB"
    )
    yield Phone(context, axe_source)
    context.close()


@pytest.fixture
def ada():
    NoticeFactory(purpose="marketing", language="en", text="Yes, send me offers from Acme.")
    NoticeFactory(purpose="service", language="en", text="Yes, send me order updates.")
    SendingNumber.objects.create(
        phone_number_id=A, label="Shop", brand="Acme", display_phone_number="15550783881"
    )
    SendingNumber.objects.create(
        phone_number_id=B, label="Outlet", brand="Acme Outlet", display_phone_number="15550783882"
    )
    contact = ContactFactory(name="Ada Lovelace", phone="+447911123001", language="en")
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)
    record(contact, Action.WITHDRAW, "marketing", evidence=Evidence(context={"sending_number": A}))
    return contact


def test_scope_number_each_number_answers_and_changes_alone(settings, phone_390, ada):
    settings.CONSENT_STOP_SCOPE = "number"
    page = phone_390.page
    page.goto(preference_url(ada))

    shop = page.locator(f'[data-number="{A}"]')
    outlet = page.locator(f'[data-number="{B}"]')
    expect(shop).to_contain_text("Acme (+15550783881): Off")
    expect(outlet).to_contain_text("Acme Outlet (+15550783882): On")
    phone_390.screenshot("per-number-01-shop-off-outlet-on")
    phone_390.check_accessibility()

    outlet.get_by_role("button", name="Turn off on Acme Outlet (+15550783882)").click()
    expect(page.get_by_role("heading", name="Your choice is saved")).to_be_visible()

    assert [a.decision.allowed for a in marketing_by_number(ada.pk)] == [False, False]
    page.goto(preference_url(ada))
    expect(outlet).to_contain_text("Acme Outlet (+15550783882): Off")
    phone_390.check_accessibility()


def test_scope_business_the_page_shows_one_answer(settings, phone_390, ada):
    settings.CONSENT_STOP_SCOPE = "business"
    page = phone_390.page
    page.goto(preference_url(ada))

    expect(page.locator("#purpose-marketing")).to_contain_text("Status: Off")
    expect(page.locator("#marketing-numbers")).to_have_count(0)
    phone_390.check_accessibility()
