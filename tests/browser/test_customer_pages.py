"""The customer pages in real Chromium at phone size: change, confirm, check the admin."""

import hashlib
import hmac
import json
import time
import urllib.request
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from consent.models import ConsentEvent
from consent.rules import Action, Source, Status
from consent.selectors import consent_states
from contacts.models import Contact
from groups.models import Group, GroupMembership
from groups.services import invite_contact
from preferences.links import preference_url
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory
from whatsapp.models import OutboundMessage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTICES = {
    ("marketing", "en"): "Yes, send me offers and news from Demo Shop on WhatsApp.",
    ("service", "en"): "Yes, send me order updates from Demo Shop on WhatsApp.",
    ("marketing", "es"): "Sí, envíenme ofertas y novedades de Demo Shop por WhatsApp.",
    ("service", "es"): "Sí, envíenme avisos de pedidos de Demo Shop por WhatsApp.",
}


@pytest.fixture
def notices():
    return {
        key: NoticeFactory(purpose=key[0], language=key[1], text=text)
        for key, text in NOTICES.items()
    }


@pytest.fixture
def ada(notices):
    contact = ContactFactory(name="Ada Lovelace", phone="+447911123001", language="en")
    record(
        contact,
        Action.GRANT,
        "marketing",
        source=Source.WEB_FORM,
        at=timezone.now() - timedelta(days=30),
    )
    return contact


def marketing_card(phone):
    return phone.page.locator("#purpose-marketing")


def test_opt_out_see_it_in_the_admin_then_opt_in_with_the_checkbox(phone, desk, ada, live_server):
    page = phone.page
    # given: Ada opens her link on a phone
    page.goto(preference_url(ada))
    expect(page.get_by_role("heading", name="Your message choices")).to_be_visible()
    expect(marketing_card(phone)).to_contain_text("Status: On")
    expect(marketing_card(phone)).to_contain_text(NOTICES[("marketing", "en")])
    phone.screenshot("01-preference-centre")
    phone.check_accessibility()

    # when: she turns marketing off (one step)
    marketing_card(phone).get_by_role("button", name="Turn off Offers and news").click()

    # then: a confirmation on screen, with undo offered
    expect(page.get_by_role("heading", name="Your choice is saved")).to_be_visible()
    expect(page.get_by_text("you will no longer receive offers and news")).to_be_visible()
    expect(page.get_by_role("heading", name="Changed your mind?")).to_be_visible()
    phone.screenshot("02-opt-out-confirmation")
    phone.check_accessibility()
    assert consent_states(ada)["marketing"].status == Status.OPTED_OUT
    assert consent_states(ada)["service"] is None
    confirmation = OutboundMessage.objects.filter(contact_id=ada.pk).order_by("-created_at")
    assert "no longer receive offers and news" in json.dumps(confirmation.first().payload)

    # and the ledger event is in the admin
    get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-pw")
    admin = desk.page
    admin.goto(f"{live_server.url}/admin/login/")
    admin.get_by_label("Username").fill("staff")
    admin.get_by_label("Password").fill("staff-pw")
    admin.get_by_role("button", name="Log in").click()
    admin.goto(f"{live_server.url}/admin/consent/consentevent/?q=Ada+Lovelace")
    row = admin.locator("#result_list tbody tr").first
    expect(row).to_contain_text("Withdraw")
    expect(row).to_contain_text("Preference centre")
    desk.screenshot("03-admin-ledger-event")

    # when: back on her page, she turns marketing on again without ticking the box
    page.get_by_role("link", name="Back to your choices").click()
    card = marketing_card(phone)
    expect(card).to_contain_text("Status: Off")
    checkbox = card.get_by_label("I have read this and I agree")
    expect(checkbox).not_to_be_checked()
    card.get_by_role("button", name="Turn on Offers and news").click()
    expect(page.get_by_text("Tick the box to show you agree to this wording.")).to_be_visible()
    phone.screenshot("04-opt-in-needs-the-box")
    assert consent_states(ada)["marketing"].status == Status.OPTED_OUT

    # then with the box ticked
    card = marketing_card(phone)
    card.get_by_label("I have read this and I agree").check()
    card.get_by_role("button", name="Turn on Offers and news").click()
    expect(page.get_by_text("you will receive offers and news")).to_be_visible()
    phone.screenshot("05-opt-in-confirmation")
    state = consent_states(ada)["marketing"]
    assert (state.status, state.source, state.notice.ref) == (
        Status.OPTED_IN,
        Source.PREFERENCE_CENTRE,
        "marketing/en/1",
    )
    grant = ConsentEvent.objects.filter(contact=ada).order_by("-seq").first()
    assert grant.ip == "127.0.0.1" and "Chrome" in grant.user_agent
    assert grant.page_url.startswith(f"{live_server.url}/preferences/")


def test_undo_an_opt_out_from_the_confirmation_screen(phone, ada):
    page = phone.page
    page.goto(preference_url(ada))
    marketing_card(phone).get_by_role("button", name="Turn off Offers and news").click()
    undo = page.locator("section", has=page.get_by_role("heading", name="Changed your mind?"))
    expect(undo).to_contain_text(NOTICES[("marketing", "en")])
    expect(undo.get_by_label("I have read this and I agree")).not_to_be_checked()
    undo.get_by_label("I have read this and I agree").check()
    undo.get_by_role("button", name="Undo my opt-out").click()
    expect(page.get_by_text("Your opt-out was undone.")).to_be_visible()
    phone.screenshot("13-opt-out-undone")
    phone.check_accessibility()
    grant = ConsentEvent.objects.filter(contact=ada).order_by("-seq").first()
    assert (grant.action, grant.notice.ref) == (Action.GRANT, "marketing/en/1")
    assert consent_states(ada)["marketing"].status == Status.OPTED_IN


def test_pause_and_history_in_spanish(phone, ada):
    page = phone.page
    page.goto(preference_url(ada))
    page.get_by_role("link", name="Español").click()
    expect(page.get_by_role("heading", name="Tus preferencias de mensajes")).to_be_visible()
    card = marketing_card(phone)
    card.get_by_label("4 semanas").check()
    card.get_by_role("button", name="Pausar").click()
    expect(page.get_by_text("quedan en pausa hasta el")).to_be_visible()
    page.get_by_role("link", name="Volver a tus preferencias").click()
    expect(marketing_card(phone)).to_contain_text("En pausa")
    expect(page.get_by_role("heading", name="Tu historial")).to_be_visible()
    phone.screenshot("06-paused-in-spanish")
    phone.check_accessibility()
    assert consent_states(ada)["marketing"].status == Status.PAUSED


def _button_reply(*, wa_id: str, replying_to: str, button_id: str) -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "contacts": [{"profile": {"name": "Grace"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "context": {"from": "15550783881", "id": replying_to},
                                    "from": wa_id,
                                    "id": f"wamid.BROWSER-{time.time_ns()}",
                                    # Whole seconds, as Meta sends them: the tap comes
                                    # after the request recorded a moment ago.
                                    "timestamp": str(int(time.time()) + 1),
                                    "type": "interactive",
                                    "interactive": {
                                        "type": "button_reply",
                                        "button_reply": {"id": button_id, "title": "Yes"},
                                    },
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload).encode()


def _post_signed_webhook(url: str, body: bytes) -> int:
    signature = hmac.new(settings.WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our live server)
        return response.status


def test_web_opt_in_confirmed_by_a_whatsapp_button_reply(phone, notices, live_server):
    page = phone.page
    # given: a visitor fills in the form
    page.goto(f"{live_server.url}/opt-in/")
    expect(page.get_by_label("Offers and news:", exact=False)).not_to_be_checked()
    phone.screenshot("07-web-opt-in-form")
    phone.check_accessibility()
    page.get_by_label("WhatsApp number").fill("07911 123456")
    page.get_by_label("Your name (optional)").fill("Grace Hopper")
    page.get_by_label("Offers and news:", exact=False).check()
    page.get_by_role("button", name="Send").click()

    # then: the page says to check WhatsApp; the request is pending
    expect(page.get_by_role("heading", name="Check WhatsApp to confirm")).to_be_visible()
    phone.screenshot("08-web-opt-in-check-whatsapp")
    phone.check_accessibility()
    grace = Contact.objects.get(phone="+447911123456")
    assert consent_states(grace)["marketing"].status == Status.PENDING
    asked = OutboundMessage.objects.filter(contact_id=grace.pk).order_by("-created_at").first()
    assert asked is not None and asked.notice_refs == ["marketing/en/1"]

    # when: she taps "Yes" in WhatsApp (Meta posts the signed button reply)
    status = _post_signed_webhook(
        f"{live_server.url}/webhooks/whatsapp/",
        _button_reply(
            wa_id=grace.wa_id, replying_to=asked.wamid, button_id="consent:marketing:grant"
        ),
    )

    # then: the grant names the wording her confirmation message carried
    assert status == 200
    state = consent_states(grace)["marketing"]
    assert (state.status, state.source, state.notice.ref) == (
        Status.OPTED_IN,
        Source.WHATSAPP_BUTTON,
        "marketing/en/1",
    )
    page.goto(preference_url(grace))
    expect(marketing_card(phone)).to_contain_text("by tapping a button on WhatsApp")
    phone.screenshot("09-confirmed-by-whatsapp")


def test_accept_a_group_invitation(phone, ada):
    # given
    group = Group.objects.create(
        name="Early birds", description="A first look at new products, once a month."
    )
    invitation = invite_contact(group=group, contact=ada)
    page = phone.page
    # when
    page.goto(invitation.accept_url)
    expect(page.get_by_role("heading", name="Invitation to Early birds")).to_be_visible()
    expect(page.get_by_text("A first look at new products")).to_be_visible()
    phone.screenshot("10-invitation")
    phone.check_accessibility()
    page.get_by_role("button", name="Accept: join Early birds").click()
    # then
    expect(page.get_by_text("you are a member of Early birds")).to_be_visible()
    phone.screenshot("11-invitation-accepted")
    phone.check_accessibility()
    assert GroupMembership.objects.filter(invitation=invitation, contact=ada).exists()


def test_an_expired_link_explains_how_to_get_a_new_one(phone, ada, settings, monkeypatch):
    from django.core import signing

    real = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: real - 40 * 24 * 3600)
    url = preference_url(ada)
    monkeypatch.setattr(signing.time, "time", lambda: real)
    response = phone.page.goto(url)
    assert response.status == 410
    expect(phone.page.get_by_role("heading", name="This link has expired")).to_be_visible()
    expect(phone.page.get_by_text("PREFERENCES")).to_be_visible()
    phone.screenshot("12-expired-link")
    phone.check_accessibility()
