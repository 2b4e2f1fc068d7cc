from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent
from consent.rules import Action, Source, Status
from consent.selectors import consent_states
from tests.consent_helpers import record
from tests.factories import NoticeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def opted_out_here(client, contact, page):
    record(contact, Action.GRANT, "marketing")
    response = client.post(f"{page}change/", {"action": "withdraw", "purpose": "marketing"})
    confirmation_url = response["Location"]
    receipt = confirmation_url.split("?r=", 1)[1]
    from urllib.parse import unquote

    return confirmation_url, unquote(receipt)


def test_the_confirmation_offers_undo_with_the_same_wording(client, opted_out_here):
    confirmation_url, _ = opted_out_here
    html = client.get(confirmation_url).content.decode()
    assert "Changed your mind?" in html
    assert "You can undo this for 10 minutes." in html
    assert "[en] Yes, send me marketing messages from Demo Shop." in html
    assert 'name="agree"' in html and "checked" not in html


def test_undo_with_the_box_ticked_is_a_new_grant_naming_the_wording(
    client, contact, page, opted_out_here
):
    # given
    _, receipt = opted_out_here
    withdraw = ConsentEvent.objects.filter(contact=contact).latest("seq")
    # when
    response = client.post(f"{page}undo/", {"receipt": receipt, "agree": "on"})
    # then
    assert response.status_code == 302
    grant = ConsentEvent.objects.filter(contact=contact).latest("seq")
    assert (grant.action, grant.source) == (Action.GRANT, Source.PREFERENCE_CENTRE)
    assert grant.notice.ref == "marketing/en/1"
    assert grant.context["undoes"] == str(withdraw.pk)
    assert consent_states(contact)["marketing"].status == Status.OPTED_IN
    assert "Your opt-out was undone." in client.get(response["Location"]).content.decode()


def test_undo_without_ticking_records_nothing(client, contact, page, opted_out_here):
    _, receipt = opted_out_here
    before = ConsentEvent.objects.filter(contact=contact).count()
    response = client.post(f"{page}undo/", {"receipt": receipt})
    assert response.status_code == 400
    assert "Tick the box" in response.content.decode()
    assert ConsentEvent.objects.filter(contact=contact).count() == before


def test_undo_shows_the_wording_agreed_before_even_if_newer_exists(
    client, contact, page, opted_out_here
):
    _, receipt = opted_out_here
    NoticeFactory(purpose="marketing", language="en", version=2)
    client.post(f"{page}undo/", {"receipt": receipt, "agree": "on"})
    grant = ConsentEvent.objects.filter(contact=contact).latest("seq")
    assert grant.notice.ref == "marketing/en/1"


def test_undo_is_gone_after_ten_minutes(client, contact, page, opted_out_here, monkeypatch):
    confirmation_url, receipt = opted_out_here
    later = timezone.now() + timedelta(minutes=11)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert "Changed your mind?" not in client.get(confirmation_url).content.decode()
    response = client.post(f"{page}undo/", {"receipt": receipt, "agree": "on"}, follow=True)
    assert "can no longer be undone" in response.content.decode()
    assert consent_states(contact)["marketing"].status == Status.OPTED_OUT


def test_undo_is_gone_once_a_newer_answer_exists(client, contact, page, opted_out_here):
    _, receipt = opted_out_here
    record(contact, Action.GRANT, "marketing", source=Source.WHATSAPP_BUTTON)
    record(contact, Action.WITHDRAW, "marketing", source=Source.WHATSAPP_KEYWORD)
    before = ConsentEvent.objects.filter(contact=contact).count()
    client.post(f"{page}undo/", {"receipt": receipt, "agree": "on"})
    assert ConsentEvent.objects.filter(contact=contact).count() == before


def test_a_forged_receipt_undoes_nothing(client, contact, page, opted_out_here):
    before = ConsentEvent.objects.filter(contact=contact).count()
    response = client.post(f"{page}undo/", {"receipt": "forged", "agree": "on"})
    assert response.status_code == 302
    assert ConsentEvent.objects.filter(contact=contact).count() == before


def test_a_receipt_of_another_contact_undoes_nothing(client, opted_out_here):
    from preferences.links import preference_path
    from tests.factories import ContactFactory

    _, receipt = opted_out_here
    other = ContactFactory()
    client.post(f"{preference_path(other)}undo/", {"receipt": receipt, "agree": "on"})
    assert not ConsentEvent.objects.filter(contact=other).exists()


def test_only_an_opt_out_can_be_undone(client, contact, page):
    response = client.post(
        f"{page}change/",
        {"action": "grant", "purpose": "marketing", "notice": "marketing/en/1", "agree": "on"},
    )
    assert "Changed your mind?" not in client.get(response["Location"]).content.decode()
