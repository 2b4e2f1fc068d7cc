from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent
from consent.rules import Action, Source, Status
from consent.selectors import consent_states, may_send
from tests.consent_helpers import record
from tests.factories import PolicyFactory

pytestmark = pytest.mark.django_db


def marketing_status(contact) -> str:
    state = consent_states(contact)["marketing"]
    return state.status if state else Status.NONE


def test_shows_each_purpose_with_state_in_words_and_the_wording_agreed(client, contact, page):
    # given
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)
    # when
    response = client.get(page)
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Offers and news" in html and "Order and account updates" in html
    assert "Status:" in html and ">On<" in html
    assert "You said yes on" in html and "by ticking a box on our website" in html
    assert "[en] Yes, send me marketing messages from Demo Shop." in html
    assert "Hello Ada Lovelace" in html


@pytest.mark.parametrize(
    ("story", "words"),
    [
        ([], "You have not said yes to these messages."),
        ([Action.REQUEST], "Confirm on WhatsApp, or turn them on here."),
        ([Action.GRANT], "You said yes on"),
        ([Action.GRANT, Action.WITHDRAW], "You said no on"),
        ([Action.LEGACY], "You agreed before our new rules."),
        ([Action.LEGACY, Action.EXPIRE], "Your earlier consent ended on"),
    ],
)
def test_every_state_is_said_in_plain_words(client, contact, page, story, words):
    PolicyFactory()
    start = timezone.now() - timedelta(days=10)
    for step, action in enumerate(story):
        record(contact, action, "marketing", at=start + timedelta(days=step))
    response = client.get(page)
    assert response.status_code == 200
    assert words in response.content.decode()


def test_a_pause_says_until_when(client, contact, page):
    record(contact, Action.GRANT, "marketing", at=timezone.now() - timedelta(days=2))
    record(
        contact,
        Action.PAUSE,
        "marketing",
        at=timezone.now() - timedelta(days=1),
        paused_until=timezone.now() + timedelta(weeks=1),
    )
    html = client.get(page).content.decode()
    assert "Paused" in html and "They start again on" in html


def test_turning_off_is_one_step_and_records_evidence(
    client, contact, page, sent_messages, django_capture_on_commit_callbacks
):
    # given
    record(contact, Action.GRANT, "marketing")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{page}change/",
            {"action": "withdraw", "purpose": "marketing"},
            HTTP_USER_AGENT="Mobile Safari",
        )
    # then
    assert response.status_code == 302
    assert "/done/?r=" in response["Location"]
    event = ConsentEvent.objects.filter(contact=contact).latest("seq")
    assert (event.action, event.source) == (Action.WITHDRAW, Source.PREFERENCE_CENTRE)
    assert event.ip == "127.0.0.1" and event.user_agent == "Mobile Safari"
    assert "/preferences/" in event.page_url
    assert page.strip("/").rsplit(":", 1)[-1] not in event.page_url  # no working link kept
    assert event.context["notice_before"] == "marketing/en/1"
    assert not may_send(contact, "marketing").allowed
    assert consent_states(contact)["service"] is None
    assert [kind for kind, *_ in sent_messages] == ["text"]
    assert "no longer receive offers and news" in sent_messages[0][2]


def test_confirmation_page_says_what_changed(client, contact, page, sent_messages):
    record(contact, Action.GRANT, "marketing")
    response = client.post(f"{page}change/", {"action": "withdraw", "purpose": "marketing"})
    confirmation = client.get(response["Location"])
    html = confirmation.content.decode()
    assert confirmation.status_code == 200
    assert "Your choice is saved" in html
    assert "you will no longer receive offers and news" in html
    assert "Changed your mind?" in html


def test_turning_on_needs_the_unticked_box_ticked(client, contact, page, sent_messages):
    # given: the form shows the current wording beside an unticked box
    html = client.get(page).content.decode()
    assert "[en] Yes, send me marketing messages from Demo Shop." in html
    assert 'type="checkbox" name="agree"' in html and "checked" not in html
    # when: sent without ticking
    response = client.post(
        f"{page}change/",
        {"action": "grant", "purpose": "marketing", "notice": "marketing/en/1"},
    )
    # then
    assert response.status_code == 400
    assert "Tick the box to show you agree" in response.content.decode()
    assert not ConsentEvent.objects.filter(contact=contact).exists()
    assert sent_messages == []


def test_turning_on_with_the_box_ticked_records_a_grant_naming_the_wording(
    client, contact, page, sent_messages
):
    response = client.post(
        f"{page}change/",
        {"action": "grant", "purpose": "marketing", "notice": "marketing/en/1", "agree": "on"},
    )
    assert response.status_code == 302
    event = ConsentEvent.objects.get(contact=contact)
    assert (event.action, event.notice.ref) == (Action.GRANT, "marketing/en/1")
    assert event.source == Source.PREFERENCE_CENTRE
    assert marketing_status(contact) == Status.OPTED_IN
    assert consent_states(contact)["service"] is None


def test_turning_on_with_outdated_wording_records_nothing(client, contact, page, notices):
    from tests.factories import NoticeFactory

    NoticeFactory(purpose="marketing", language="en", version=2)
    response = client.post(
        f"{page}change/",
        {"action": "grant", "purpose": "marketing", "notice": "marketing/en/1", "agree": "on"},
        follow=True,
    )
    assert "not possible right now" in response.content.decode()
    assert not ConsentEvent.objects.filter(contact=contact).exists()


def test_a_notice_for_another_purpose_is_refused(client, contact, page):
    response = client.post(
        f"{page}change/",
        {"action": "grant", "purpose": "marketing", "notice": "service/en/1", "agree": "on"},
    )
    assert response.status_code == 400
    assert not ConsentEvent.objects.filter(contact=contact).exists()


@pytest.mark.parametrize("weeks", [1, 4, 12])
def test_marketing_can_be_paused_for_some_weeks(client, contact, page, sent_messages, weeks):
    record(contact, Action.GRANT, "marketing")
    response = client.post(f"{page}change/", {"action": "pause", "weeks": str(weeks)})
    assert response.status_code == 302
    state = consent_states(contact)["marketing"]
    assert state.status == Status.PAUSED
    expected = timezone.now() + timedelta(weeks=weeks)
    assert abs((state.paused_until - expected).total_seconds()) < 60
    decision = may_send(contact, "marketing")
    assert (decision.allowed, decision.reason) == (False, "paused")


def test_a_pause_of_another_length_is_refused(client, contact, page):
    record(contact, Action.GRANT, "marketing")
    response = client.post(f"{page}change/", {"action": "pause", "weeks": "52"})
    assert response.status_code == 400
    assert marketing_status(contact) == Status.OPTED_IN


def test_pause_is_not_offered_to_someone_who_said_no(client, contact, page):
    record(contact, Action.WITHDRAW, "marketing")
    assert "Or take a break" not in client.get(page).content.decode()
    response = client.post(f"{page}change/", {"action": "pause", "weeks": "4"}, follow=True)
    assert "not possible right now" in response.content.decode()
    assert marketing_status(contact) == Status.OPTED_OUT


def test_an_unknown_action_changes_nothing(client, contact, page):
    response = client.post(f"{page}change/", {"action": "delete", "purpose": "marketing"})
    assert response.status_code == 400
    assert not ConsentEvent.objects.filter(contact=contact).exists()


def test_legacy_contacts_see_the_deadline_banner(client, contact, page):
    policy = PolicyFactory()
    record(contact, Action.LEGACY, "marketing", expires_at=policy.deadline)
    html = client.get(page).content.decode()
    assert "Your earlier consent ends on" in html
    assert "confirm to keep receiving offers" in html
    assert "Confirm Offers and news" in html


def test_history_is_in_plain_language_newest_first(client, contact, page):
    start = timezone.now() - timedelta(days=3)
    record(contact, Action.GRANT, "marketing", at=start, source=Source.WEB_FORM)
    record(
        contact,
        Action.WITHDRAW,
        "marketing",
        at=start + timedelta(days=1),
        source=Source.WHATSAPP_KEYWORD,
    )
    html = client.get(page).content.decode()
    said_no = html.index("You said no to offers and news by sending us a message on WhatsApp.")
    said_yes = html.index("You said yes to offers and news by ticking a box on our website.")
    assert said_no < said_yes


def test_the_page_is_not_cached_and_does_not_leak_the_link(client, page, contact):
    response = client.get(page)
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "<script" not in response.content.decode()
    assert 'style="' not in response.content.decode()


def test_a_second_tap_on_turn_off_records_nothing_more(client, contact, page):
    record(contact, Action.GRANT, "marketing")
    first = client.post(f"{page}change/", {"action": "withdraw", "purpose": "marketing"})
    second = client.post(f"{page}change/", {"action": "withdraw", "purpose": "marketing"})
    assert first["Location"] == second["Location"]
    assert ConsentEvent.objects.filter(contact=contact).count() == 2


def test_a_second_tap_on_turn_on_records_nothing_more(client, contact, page):
    data = {"action": "grant", "purpose": "marketing", "notice": "marketing/en/1", "agree": "on"}
    client.post(f"{page}change/", data)
    client.post(f"{page}change/", data)
    assert ConsentEvent.objects.filter(contact=contact).count() == 1


def test_an_unknown_purpose_changes_nothing(client, contact, page):
    response = client.post(
        f"{page}change/",
        {"action": "grant", "purpose": "astrology", "notice": "marketing/en/1", "agree": "on"},
    )
    assert response.status_code == 400
    assert not ConsentEvent.objects.filter(contact=contact).exists()
