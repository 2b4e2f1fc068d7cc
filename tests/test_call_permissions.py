"""The `calls` purpose: WhatsApp's call permission, held by the ledger for as long as it lasts.

Granted only in WhatsApp's own dialog (a `call_permission_reply`), for a time or for good;
withdrawn by a reject, by STOP ALL, on the preference centre or through the API; lapsed by
the system at its expires_at. Most tests pass the time in (`at=`); one moves the clock itself
(time-machine) and lets the beat task read it.
"""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.scopes import SCOPES
from consent.exceptions import InvalidConsent
from consent.models import ConsentEvent, ConsentState
from consent.rules import Action, Purpose, Source, Status
from consent.selectors import consent_states, may_send, may_send_many
from consent.services import expire_lapsed_call_permissions, expire_states, record_consent
from consent.tasks import expire_lapsed_call_permissions as expiry_task
from preferences.links import preference_path
from tests.api.conftest import assert_error, client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory

pytestmark = pytest.mark.django_db

PHONE = "+447911123456"


@pytest.fixture
def api_client(db):
    return client_with_key(*SCOPES)


@pytest.fixture(autouse=True)
def calls_notice(db):
    """The wording of our call permission request."""
    return NoticeFactory(purpose="calls", text="May Demo Shop call you on WhatsApp?")


def allow_calls(contact, *, at, expires_at=None) -> ConsentEvent:
    """What a call_permission_reply accept records (conversation.calls)."""
    return record_consent(
        contact=contact,
        purpose=Purpose.CALLS,
        action=Action.GRANT,
        source=Source.WHATSAPP_PLATFORM,
        notice=NoticeFactory(purpose="calls"),
        occurred_at=at,
        expires_at=expires_at,
    )


def calls_state(contact):
    return consent_states(contact)[Purpose.CALLS]


# --- Granted for a time, or for good -------------------------------------------------------


def test_a_temporary_permission_allows_calls_until_its_end_then_not():
    contact = ContactFactory(phone=PHONE)
    now = timezone.now()
    ends = now + timedelta(days=7)
    allow_calls(contact, at=now, expires_at=ends)

    during = may_send(contact, "calls", at=ends - timedelta(seconds=1))
    after = may_send(contact, "calls", at=ends)

    assert (during.allowed, during.reason, during.expires_at) == (True, "opted_in", ends)
    # Before the sweep has run: the eligibility answer already says no.
    assert (after.allowed, after.reason) == (False, "legacy_expired")
    assert calls_state(contact).status == Status.OPTED_IN


def test_a_permanent_permission_never_lapses():
    contact = ContactFactory()
    now = timezone.now()
    allow_calls(contact, at=now)

    assert may_send(contact, "calls", at=now + timedelta(days=3650)).allowed
    assert expire_lapsed_call_permissions(at=now + timedelta(days=3650)) == 0


def test_a_call_permission_is_never_a_message_permission():
    contact = ContactFactory()
    allow_calls(contact, at=timezone.now())

    assert may_send(contact, "marketing").reason == "no_consent"
    assert may_send(contact, "service").reason == "no_consent"


def test_a_grant_of_calls_names_our_wording_even_from_the_platform():
    with pytest.raises(InvalidConsent) as refused:
        record_consent(
            contact=ContactFactory(),
            purpose="calls",
            action="grant",
            source=Source.WHATSAPP_PLATFORM,
        )
    assert refused.value.code == "notice_required"


def test_only_a_call_permission_keeps_an_end_on_its_grant(marketing_notice):
    contact = ContactFactory()
    later = timezone.now() + timedelta(days=7)
    event = record(contact, Action.GRANT, "marketing", expires_at=later)
    assert event.expires_at is None
    assert consent_states(contact)["marketing"].expires_at is None


# --- Expired by the system, as the legacy grace period is ----------------------------------


def test_the_sweep_expires_lapsed_permissions_only_and_records_why():
    lapsed, current, permanent = ContactFactory(), ContactFactory(), ContactFactory()
    start = timezone.now() - timedelta(days=8)
    allow_calls(lapsed, at=start, expires_at=start + timedelta(days=7))
    allow_calls(current, at=start, expires_at=start + timedelta(days=9))
    allow_calls(permanent, at=start)

    assert expire_lapsed_call_permissions(at=timezone.now()) == 1

    assert calls_state(lapsed).status == Status.EXPIRED
    assert calls_state(current).status == calls_state(permanent).status == Status.OPTED_IN
    expiry = ConsentEvent.objects.get(action=Action.EXPIRE)
    assert (expiry.contact_id, expiry.purpose, expiry.source) == (lapsed.pk, "calls", "system")
    assert expiry.personal_evidence.note == "call permission expired"
    assert may_send(lapsed, "calls").reason == "legacy_expired"
    # A second run finds nothing left to expire.
    assert expire_lapsed_call_permissions(at=timezone.now()) == 0


def test_the_beat_task_runs_the_sweep():
    contact = ContactFactory()
    start = timezone.now() - timedelta(days=8)
    allow_calls(contact, at=start, expires_at=start + timedelta(days=7))

    assert expiry_task.delay().get() == 1
    assert calls_state(contact).status == Status.EXPIRED


def test_a_permission_lapses_at_its_time_on_the_clock_the_sweep_reads(api_client):
    contact = ContactFactory(phone=PHONE)
    granted = timezone.now()
    allow_calls(contact, at=granted, expires_at=granted + timedelta(days=7))

    with time_machine.travel(granted + timedelta(days=7, seconds=-1), tick=False):
        assert expiry_task.delay().get() == 0
        assert may_send(contact, "calls").allowed
    with time_machine.travel(granted + timedelta(days=7, minutes=5), tick=False):
        assert expiry_task.delay().get() == 1
        answer = api_client.get("/api/v1/eligibility/", {"phone": PHONE, "purpose": "calls"})

    assert calls_state(contact).status == Status.EXPIRED
    assert answer.json()["allowed"] is False
    assert answer.json()["reason"] == "legacy_expired"


def test_a_permission_renewed_while_the_sweep_runs_is_not_expired():
    contact = ContactFactory()
    start = timezone.now() - timedelta(days=8)
    allow_calls(contact, at=start, expires_at=start + timedelta(days=7))
    # The sweep has read the lapsed state; the person renews before it records the expiry.
    seen = list(ConsentState.objects.filter(contact=contact, purpose=Purpose.CALLS))
    renewed = timezone.now()
    allow_calls(contact, at=renewed, expires_at=renewed + timedelta(days=7))

    assert expire_states(seen, at=renewed, note="call permission expired") == 0

    assert calls_state(contact).status == Status.OPTED_IN
    assert may_send(contact, "calls").allowed
    assert not ConsentEvent.objects.filter(contact=contact, action=Action.EXPIRE).exists()


def test_a_new_permission_after_expiry_allows_calls_again():
    contact = ContactFactory()
    start = timezone.now() - timedelta(days=8)
    allow_calls(contact, at=start, expires_at=start + timedelta(days=7))
    expire_lapsed_call_permissions(at=start + timedelta(days=7, minutes=1))

    allow_calls(contact, at=timezone.now(), expires_at=timezone.now() + timedelta(days=7))

    assert may_send(contact, "calls").allowed


# --- An opt-out always wins ---------------------------------------------------------------


def test_a_reject_dated_just_before_the_accept_still_withdraws():
    contact = ContactFactory()
    now = timezone.now()
    allow_calls(contact, at=now, expires_at=now + timedelta(days=7))
    record(contact, Action.WITHDRAW, "calls", source=Source.WHATSAPP_PLATFORM, at=now)

    assert may_send(contact, "calls").reason == "opted_out"


def test_stop_all_withdraws_the_call_permission_too():
    from consent.services import record_opt_out

    contact = ContactFactory()
    allow_calls(contact, at=timezone.now() - timedelta(minutes=1))
    record_opt_out(contacts=[contact], purposes=list(Purpose.values), source=Source.ADMIN)

    assert may_send(contact, "calls").reason == "opted_out"


def test_an_expiry_never_undoes_an_opt_out():
    contact = ContactFactory()
    start = timezone.now() - timedelta(days=8)
    allow_calls(contact, at=start, expires_at=start + timedelta(days=7))
    record(contact, Action.WITHDRAW, "calls", at=start + timedelta(days=1))

    assert expire_lapsed_call_permissions(at=timezone.now()) == 0
    assert calls_state(contact).status == Status.OPTED_OUT


# --- Eligibility through the API ----------------------------------------------------------


def test_eligibility_for_calls_reports_the_end_of_a_temporary_permission(api_client):
    contact = ContactFactory(phone=PHONE)
    now = timezone.now()
    allow_calls(contact, at=now, expires_at=now + timedelta(days=7))

    body = api_client.get("/api/v1/eligibility/", {"phone": PHONE, "purpose": "calls"}).json()

    assert (body["purpose"], body["allowed"], body["reason"]) == ("calls", True, "opted_in")
    assert parse_datetime(body["expires_at"]) == now + timedelta(days=7)


def test_eligibility_for_an_expired_permission_says_legacy_expired(api_client):
    contact = ContactFactory(phone=PHONE)
    start = timezone.now() - timedelta(days=8)
    allow_calls(contact, at=start, expires_at=start + timedelta(days=7))

    single = api_client.get("/api/v1/eligibility/", {"phone": PHONE, "purpose": "calls"}).json()
    bulk = api_client.post(
        "/api/v1/eligibility/bulk/",
        {"purpose": "calls", "phones": [PHONE, "+447911123457"]},
        format="json",
    ).json()

    assert (single["allowed"], single["reason"]) == (False, "legacy_expired")
    assert [(r["allowed"], r["reason"]) for r in bulk["results"]] == [
        (False, "legacy_expired"),
        (False, "unknown_contact"),
    ]


def test_bulk_reads_lapsed_permissions_the_same_way_as_single():
    lapsed, current = ContactFactory(), ContactFactory()
    now = timezone.now()
    allow_calls(lapsed, at=now - timedelta(days=8), expires_at=now - timedelta(days=1))
    allow_calls(current, at=now, expires_at=now + timedelta(days=1))

    answers = may_send_many([str(lapsed.phone), str(current.phone)], "calls", at=now)

    assert [d.reason for _, d in answers] == ["legacy_expired", "opted_in"]


def test_the_api_may_withdraw_calls_but_never_grant_without_a_notice(api_client):
    # (a calls notice is published: the grant still has to name it)
    withdrawn = api_client.post(
        "/api/v1/consent-events/",
        {"phone": PHONE, "purpose": "calls", "action": "withdraw", "source": "api"},
        format="json",
    )
    granted = api_client.post(
        "/api/v1/consent-events/",
        {"phone": PHONE, "purpose": "calls", "action": "grant", "source": "api"},
        format="json",
    )

    assert withdrawn.status_code == 201, withdrawn.content
    assert_error(granted, 400, "notice_required", "notice")


def test_the_contact_body_and_the_proof_show_the_call_permission(api_client):
    contact = ContactFactory(phone=PHONE)
    now = timezone.now()
    allow_calls(contact, at=now, expires_at=now + timedelta(days=7))

    body = api_client.get(f"/api/v1/contacts/{contact.pk}/").json()
    proof = api_client.get(f"/api/v1/contacts/{contact.pk}/proof/").json()

    assert body["consents"]["calls"]["status"] == "opted_in"
    assert parse_datetime(body["consents"]["calls"]["expires_at"]) == now + timedelta(days=7)
    assert proof["consents"]["calls"]["status"] == "opted_in"
    [event] = proof["events"]
    assert (event["purpose"], event["source"], event["notice"]) == (
        "calls",
        "whatsapp_platform",
        "calls/en/1",
    )
    assert event["notice_text"] == "May Demo Shop call you on WhatsApp?"
    assert parse_datetime(event["expires_at"]) == now + timedelta(days=7)
    assert proof["chain"]["chain_valid"] is True


def test_the_contact_page_shows_the_call_permission(staff_client):
    contact = ContactFactory()
    allow_calls(contact, at=timezone.now())

    response = staff_client.get(reverse("admin:contacts_contact_change", args=[contact.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Calls" in html and "WhatsApp platform signal" in html


# --- The preference centre: shown, and withdrawn there; never granted there -----------------


@pytest.fixture
def centre(db):
    contact = ContactFactory(name="Ada Lovelace", language="en")
    allow_calls(contact, at=timezone.now() - timedelta(minutes=5))
    return contact, preference_path(contact)


def test_the_preference_centre_shows_the_call_permission(client: Client, centre):
    _, page = centre
    html = client.get(page).content.decode()
    assert "WhatsApp calls from us" in html
    assert 'name="purpose" value="calls"' in html


def test_the_person_withdraws_the_call_permission_there(client: Client, centre, monkeypatch):
    import conversation.outreach as outreach

    monkeypatch.setattr(outreach, "send_confirmation_text", lambda **_: None)
    contact, page = centre

    response = client.post(f"{page}change/", {"action": "withdraw", "purpose": "calls"})

    assert response.status_code == 302
    assert calls_state(contact).status == Status.OPTED_OUT
    assert ConsentEvent.objects.filter(contact=contact).latest("seq").source == "preference_centre"


def test_the_preference_centre_never_grants_calls(client: Client, centre):
    contact, page = centre
    client.post(f"{page}change/", {"action": "withdraw", "purpose": "calls"})
    before = ConsentEvent.objects.filter(contact=contact).count()

    response = client.post(
        f"{page}change/", {"action": "grant", "purpose": "calls", "notice": "", "agree": "on"}
    )

    assert response.status_code == 400
    assert ConsentEvent.objects.filter(contact=contact).count() == before
    assert calls_state(contact).status == Status.OPTED_OUT


def test_contacts_are_listed_by_their_call_permission(api_client):
    allowed, refused = ContactFactory(), ContactFactory()
    allow_calls(allowed, at=timezone.now())
    record(refused, Action.WITHDRAW, "calls")

    listed = api_client.get("/api/v1/contacts/", {"calls": "opted_in"}).json()["results"]

    assert [c["id"] for c in listed] == [str(allowed.pk)]
