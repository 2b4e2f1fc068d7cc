"""Compliance staff read an unreadable webhook body that holds a person's messages and record
the opt-out it may carry, through its confirmation page. Real Chromium, 1366×900."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from consent.models import ConsentEvent
from staff.roles import sync_roles
from tests.browser.conftest import SCREENSHOTS, Phone
from tests.factories import ContactFactory
from whatsapp.models import InboundEvent
from whatsapp.services import store_delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESK = {"width": 1366, "height": 900}
SERIOUS = ("serious", "critical")


@pytest.fixture
def compliance_officer(db):
    sync_roles()
    user = get_user_model().objects.create_user("carla", password="carla-pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance"))
    return user


@pytest.fixture
def window(chromium, axe_source, live_server, compliance_officer):
    context = chromium.new_context(viewport=DESK, locale="en-GB")
    window = Phone(context, axe_source)
    page = window.page
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("carla")
    page.get_by_label("Password").fill("carla-pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    yield window
    context.close()


def serious_violations(window: Phone) -> list[dict]:
    # Evaluated through the DevTools protocol, so the page's CSP still holds.
    window.page.evaluate(f"() => {{ {window.axe}\n; window.__axe = axe; }}")
    found = window.page.evaluate(
        """async () => {
            const r = await window.__axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            });
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.map(n => n.html).slice(0, 3)}));
        }"""
    )
    return [v for v in found if v["impact"] in SERIOUS]


def test_compliance_records_the_opt_out_a_held_item_may_carry(window, live_server):
    # given Ada, and a body that could not be read, with her number in it
    ada = ContactFactory(phone="+447911123456", wa_id="447911123456", name="Ada Lovelace")
    store_delivery(body=b'{"entry": [{"from": "447911123456", "text": "STOP"\xff')
    item = InboundEvent.objects.get(kind=InboundEvent.Kind.MALFORMED)
    page = window.page

    # the item's page says what it holds and offers the restrictive choice first
    page.goto(f"{live_server.url}{reverse('admin:whatsapp_inboundevent_change', args=[item.pk])}")
    expect(page.get_by_role("heading", name="Waiting for a person")).to_be_visible()
    choices = page.locator(".settle-card button[type=submit]")
    expect(choices.first).to_have_text("Record an opt-out for Ada Lovelace")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "40-admin-held-item.png"), full_page=True)
    choices.first.click()

    # the confirmation page: what arrived, who, what they stop, one primary button
    expect(page.get_by_role("heading", name="Record an opt-out for Ada Lovelace")).to_be_visible()
    expect(page.locator(".settle-raw")).to_contain_text('"text": "STOP"')
    expect(page.get_by_label("Ada Lovelace (+447911123456)")).to_be_checked()
    expect(page.get_by_label("Marketing (as STOP)")).to_be_checked()
    primary = page.get_by_role("button", name="Record the opt-out")
    expect(primary).to_be_visible()
    look = primary.evaluate(
        """el => {
            const s = getComputedStyle(el);
            const page = getComputedStyle(document.body).backgroundColor;
            return {tag: el.tagName, type: el.type, background: s.backgroundColor, page,
                    color: s.color, radius: parseFloat(s.borderTopLeftRadius),
                    padding: parseFloat(s.paddingLeft), cursor: s.cursor};
        }"""
    )
    # a styled button (the theme's primary colour, white text, rounded, padded), not a
    # browser-default grey box
    assert (look["tag"], look["type"]) == ("BUTTON", "submit")
    assert look["background"] not in ("rgba(0, 0, 0, 0)", "rgb(239, 239, 239)", look["page"])
    assert look["color"] == "rgb(255, 255, 255)"
    assert look["radius"] > 0 and look["padding"] >= 8 and look["cursor"] == "pointer"
    assert serious_violations(window) == []
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0 and window.csp_violations == []
    page.screenshot(path=str(SCREENSHOTS / "41-admin-held-item-opt-out.png"), full_page=True)

    # confirming records the withdraw and shows the decision on the item
    primary.click()
    expect(page.get_by_text("Settled by staff: Opt-out recorded")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "42-admin-held-item-settled.png"), full_page=True)
    event = ConsentEvent.objects.get(contact=ada)
    assert (event.action, event.purpose, event.source) == ("withdraw", "marketing", "admin")
    item.refresh_from_db()
    assert (item.state, item.settled_by.username) == ("settled", "carla")
