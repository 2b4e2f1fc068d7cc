"""After a stop, the opt-in form sends nothing, and the page shows everyone the way back:
a button that opens WhatsApp with START typed in. Real Chromium, a 390 px phone."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from consent.models import ConsentEvent
from consent.rules import Action, Source, Status
from consent.selectors import consent_states
from tests.browser.conftest import Phone
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory
from whatsapp.models import OutboundMessage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE_390 = {"width": 390, "height": 844}
START_LINK = "https://wa.me/442079460000?text=START"


@pytest.fixture(autouse=True)
def _business_number(settings):
    settings.WHATSAPP_DISPLAY_PHONE_NUMBER = "+44 20 7946 0000"


@pytest.fixture
def shop(settings, live_server):
    """A shop's own site (another origin, on 127.0.0.1) with our embed in an iframe."""
    page = (
        '<!DOCTYPE html><html lang="en"><meta name="viewport" content="width=device-width">'
        "<title>Shop</title><h1>Our newsletter</h1>"
        f'<iframe title="Sign up" src="{live_server.url}/opt-in/embed/" '
        'style="width:100%;height:900px;border:1px solid #888"></iframe></html>'
    ).encode()

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    settings.OPTIN_EMBED_ORIGINS = [origin]
    yield origin
    server.shutdown()
    server.server_close()


@pytest.fixture
def phone_390(chromium, axe_source):
    context = chromium.new_context(viewport=WIDE_390, is_mobile=True, locale="en-GB")
    # Nothing leaves the machine: WhatsApp is a stand-in that records what was opened.
    opened: list[str] = []

    def whatsapp(route):
        opened.append(route.request.url)
        route.fulfill(content_type="text/html", body="<title>WhatsApp</title><h1>WhatsApp</h1>")

    context.route("https://wa.me/**", whatsapp)
    phone = Phone(context, axe_source)
    phone.opened = opened  # type: ignore[attr-defined]
    yield phone
    context.close()


@pytest.fixture
def stopped(db):
    for purpose in ("marketing", "service"):
        NoticeFactory(purpose=purpose, language="en", text=f"Yes, send me {purpose} on WhatsApp.")
    contact = ContactFactory(name="Ada", phone="+447911123001", wa_id="447911123001")
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)
    record(contact, Action.WITHDRAW, "marketing", source=Source.WHATSAPP_KEYWORD)
    return contact


def fits(locator) -> bool:
    return locator.evaluate("el => el.scrollWidth <= el.clientWidth")


def assert_nothing_sideways(phone: Phone) -> None:
    page = phone.page
    assert page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    ), f"{page.url} scrolls sideways at 390 px"


def test_a_number_that_said_stop_gets_nothing_and_the_page_shows_the_way_back(
    phone_390, stopped, live_server
):
    page = phone_390.page
    events_before = ConsentEvent.objects.count()
    # given: someone types the number of a person who sent STOP
    page.goto(f"{live_server.url}/opt-in/")
    page.get_by_label("WhatsApp number").fill("07911 123001")
    page.get_by_label("Offers and news:", exact=False).check()
    page.get_by_role("button", name="Send").click()

    # then: the page every number gets; nothing sent, nothing changed
    expect(page.get_by_role("heading", name="Check WhatsApp to confirm")).to_be_visible()
    expect(page.get_by_text("If this number can receive messages from Demo Shop")).to_be_visible()
    expect(page.get_by_role("heading", name="No message after a few minutes?")).to_be_visible()
    button = page.get_by_role("link", name="Send START on WhatsApp")
    expect(button).to_be_visible()
    expect(button).to_have_attribute("href", START_LINK)
    page.wait_for_load_state("load")  # measured as drawn: after the stylesheet, not before
    box = button.bounding_box()
    assert box is not None and box["height"] >= 44 and box["x"] >= 0
    assert box["x"] + box["width"] <= WIDE_390["width"]
    assert fits(button)
    assert_nothing_sideways(phone_390)
    phone_390.check_accessibility()
    phone_390.screenshot("opt-in-after-a-stop-390")
    assert consent_states(stopped)["marketing"].status == Status.OPTED_OUT
    assert ConsentEvent.objects.count() == events_before
    assert not OutboundMessage.objects.exists()

    # when: the person taps the button, WhatsApp opens with START typed in
    button.click()
    page.wait_for_url(START_LINK)
    assert phone_390.opened == [START_LINK]


def test_in_a_shops_page_the_embed_opens_whatsapp_outside_its_frame(
    phone_390, stopped, live_server, shop
):
    page = phone_390.page
    page.goto(f"{shop}/newsletter")
    form = page.frame_locator("iframe[title='Sign up']")
    form.get_by_label("WhatsApp number").fill("+44 7911 123001")
    form.get_by_label("Offers and news:", exact=False).check()
    form.get_by_role("button", name="Send").click()

    button = form.get_by_role("link", name="Send START on WhatsApp")
    expect(button).to_be_visible()
    assert fits(button)
    frame = page.frame(url=f"{live_server.url}/opt-in/embed/?sent=1")
    assert frame is not None
    assert frame.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    phone_390.screenshot("opt-in-embed-after-a-stop-390")
    assert not OutboundMessage.objects.exists()
    assert consent_states(stopped)["marketing"].status == Status.OPTED_OUT

    with page.expect_popup() as popup:
        button.click()
    popup.value.wait_for_url(START_LINK)
    assert phone_390.opened == [START_LINK]
