"""The preference centre per business number, when a stop binds the number it came to
(`CONSENT_STOP_SCOPE=number`): Ada stopped marketing on the Shop's number (A) and not on
the Outlet's (B). Her page shows each number, named by its brand and number, with its own
answer, and changes one at a time; eligibility says the same. Scope `business`: the page
stays as it was, and the stop holds for both."""

import pytest

from consent.models import ConsentEvent
from consent.services import Evidence
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from whatsapp.models import SendingNumber

pytestmark = pytest.mark.django_db

A, B = "106540352242922", "209876543210987"


@pytest.fixture
def numbers(db):
    SendingNumber.objects.create(
        phone_number_id=A, label="Shop", brand="Acme", display_phone_number="15550783881"
    )
    SendingNumber.objects.create(
        phone_number_id=B, label="Outlet", brand="Acme Outlet", display_phone_number="15550783882"
    )


@pytest.fixture
def stopped_on_a(contact, numbers):
    contact.phone = "+447911123456"
    contact.save()
    record(contact, "grant")
    record(contact, "withdraw", evidence=Evidence(context={"sending_number": A}))
    return contact


def eligible_from(number: str) -> tuple[bool, str]:
    answer = client_with_key("consent:read").get(
        "/api/v1/eligibility/",
        {"phone": "+447911123456", "purpose": "marketing", "sending_number": number},
    )
    return answer.json()["allowed"], answer.json()["reason"]


def number_section(html: str) -> str:
    return html.split('id="marketing-numbers"', 1)[1].split("</ul>", 1)[0]


def status_of(html: str, number: str) -> str:
    row = number_section(html).split(f'data-number="{number}"', 1)[1]
    return row.split('data-role="number-status">', 1)[1].split("<", 1)[0]


def test_scope_number_a_stop_on_a_leaves_b_on(settings, client, page, stopped_on_a):
    settings.CONSENT_STOP_SCOPE = "number"

    html = client.get(page).content.decode()

    assert "Acme (+15550783881)" in html and "Acme Outlet (+15550783882)" in html
    assert (status_of(html, A), status_of(html, B)) == ("Off", "On")
    assert "Still on from 1 of our numbers: you said no on the others only." in html
    assert eligible_from(A) == (False, "opted_out")
    assert eligible_from(B) == (True, "opted_in")


def test_the_contact_api_answers_per_number(settings, stopped_on_a):
    settings.CONSENT_STOP_SCOPE = "number"
    api = client_with_key("contacts:read")

    body = api.get(f"/api/v1/contacts/{stopped_on_a.pk}/").json()

    assert body["marketing_by_number"] == [
        {
            "sending_number": B,
            "name": "Acme Outlet (+15550783882)",
            "allowed": True,
            "reason": "opted_in",
        },
        {
            "sending_number": A,
            "name": "Acme (+15550783881)",
            "allowed": False,
            "reason": "opted_out",
        },
    ]
    settings.CONSENT_STOP_SCOPE = "business"
    assert api.get(f"/api/v1/contacts/{stopped_on_a.pk}/").json()["marketing_by_number"] == []


def test_scope_business_the_page_is_as_before_and_the_stop_binds_both(
    settings, client, page, stopped_on_a
):
    settings.CONSENT_STOP_SCOPE = "business"

    html = client.get(page).content.decode()

    assert 'id="marketing-numbers"' not in html
    assert eligible_from(A) == (False, "opted_out")
    assert eligible_from(B) == (False, "opted_out")


def test_turning_off_on_b_binds_b_only(settings, client, page, contact, numbers):
    settings.CONSENT_STOP_SCOPE = "number"
    contact.phone = "+447911123456"
    contact.save()
    record(contact, "grant")

    response = client.post(
        f"{page}change/", {"action": "withdraw", "purpose": "marketing", "sending_number": B}
    )

    assert response.status_code == 302
    event = ConsentEvent.objects.filter(contact=contact).latest("seq")
    assert (event.action, event.context["sending_number"]) == ("withdraw", B)
    assert eligible_from(A) == (True, "opted_in")
    assert eligible_from(B) == (False, "opted_out")


def test_turning_on_on_a_leaves_b_off_when_both_were_stopped(
    settings, client, page, stopped_on_a, notices
):
    settings.CONSENT_STOP_SCOPE = "number"
    record(stopped_on_a, "withdraw", evidence=Evidence(context={"sending_number": B}))
    html = client.get(page).content.decode()
    assert (status_of(html, A), status_of(html, B)) == ("Off", "Off")

    response = client.post(
        f"{page}change/",
        {
            "action": "grant",
            "purpose": "marketing",
            "notice": notices[("marketing", "en")].ref,
            "agree": "on",
            "sending_number": A,
        },
    )

    assert response.status_code == 302
    assert eligible_from(A) == (True, "opted_in")
    assert eligible_from(B) == (False, "opted_out")
    html = client.get(page).content.decode()
    assert (status_of(html, A), status_of(html, B)) == ("On", "Off")


def test_turning_on_needs_the_box_ticked(settings, client, page, stopped_on_a, notices):
    settings.CONSENT_STOP_SCOPE = "number"
    before = ConsentEvent.objects.count()

    response = client.post(
        f"{page}change/",
        {
            "action": "grant",
            "purpose": "marketing",
            "notice": notices[("marketing", "en")].ref,
            "sending_number": A,
        },
    )

    assert response.status_code == 400
    assert ConsentEvent.objects.count() == before


def test_a_number_not_ours_is_refused(settings, client, page, stopped_on_a):
    settings.CONSENT_STOP_SCOPE = "number"

    response = client.post(
        f"{page}change/",
        {"action": "withdraw", "purpose": "marketing", "sending_number": "999"},
    )

    assert response.status_code == 400


def test_the_numbers_are_shown_in_spanish_too(settings, client, page, stopped_on_a):
    settings.CONSENT_STOP_SCOPE = "number"

    html = client.get(f"{page}?lang=es").content.decode()

    assert "En cada uno de nuestros números" in html
    assert "Desactivar en Acme Outlet (+15550783882)" in html
    assert "Activar en Acme (+15550783881)" in html
