import json

import pytest

from consent.rules import Action, Source
from tests.consent_helpers import record

pytestmark = pytest.mark.django_db


def test_the_consent_record_downloads_as_json_with_every_event_and_its_evidence(
    client, contact, page
):
    # given
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)
    record(contact, Action.WITHDRAW, "marketing", source=Source.WHATSAPP_KEYWORD)
    # when
    response = client.get(f"{page}record.json")
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["contact"]["id"] == str(contact.pk)
    assert data["contact"]["phone"] == str(contact.phone)
    assert [e["action"] for e in data["events"]] == ["grant", "withdraw"]
    assert data["events"][0]["notice_text"] == (
        "[en] Yes, send me marketing messages from Demo Shop."
    )
    assert data["events"][0]["evidence"]["ip"] == "203.0.113.9"
    assert data["current_state"]["marketing"]["status"] == "opted_out"
    assert data["current_state"]["service"]["status"] == "none"
    assert data["ledger_intact"] is True


def test_the_consent_record_has_a_printable_page(client, contact, page):
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)
    response = client.get(f"{page}record/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "My consent record" in html
    assert "You said yes to offers and news by ticking a box on our website." in html
    assert "[en] Yes, send me marketing messages from Demo Shop." in html
    assert "203.0.113.9" in html
    assert "this record has not been altered" in html


def test_the_preference_centre_links_to_both_downloads(client, page):
    html = client.get(page).content.decode()
    assert f"{page}record.json" in html and f"{page}record/" in html
