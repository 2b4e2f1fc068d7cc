"""/api/v1/eligibility/: the send-time question, one phone or many."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.rules import Action
from tests.api.conftest import assert_error
from tests.consent_helpers import record
from tests.factories import ContactFactory

URL = "/api/v1/eligibility/"
BULK = "/api/v1/eligibility/bulk/"
PHONE = "+447911123456"


def ask(client, phone=PHONE, purpose="marketing"):
    response = client.get(URL, {"phone": phone, "purpose": purpose})
    assert response.status_code == 200, response.content
    return response.json()


def test_opted_in(api_client, marketing_notice):
    record(ContactFactory(phone=PHONE), Action.GRANT, notice=marketing_notice)
    assert ask(api_client) == {
        "phone": PHONE,
        "purpose": "marketing",
        "allowed": True,
        "reason": "opted_in",
        "reason_label": "Opted in",
    }


def test_opted_out(api_client):
    record(ContactFactory(phone=PHONE), Action.WITHDRAW)
    assert ask(api_client) == {
        "phone": PHONE,
        "purpose": "marketing",
        "allowed": False,
        "reason": "opted_out",
        "reason_label": "Opted out",
    }


def test_no_consent(api_client):
    ContactFactory(phone=PHONE)
    assert ask(api_client)["reason"] == "no_consent"


def test_pending_confirmation(api_client, marketing_notice):
    record(ContactFactory(phone=PHONE), Action.REQUEST, notice=marketing_notice)
    body = ask(api_client)
    assert (body["allowed"], body["reason"]) == (False, "pending_confirmation")


def test_legacy_grace_period_says_when_it_ends(api_client):
    deadline = timezone.now() + timedelta(days=30)
    record(ContactFactory(phone=PHONE), Action.LEGACY, expires_at=deadline, source="import")
    body = ask(api_client)
    assert (body["allowed"], body["reason"]) == (True, "legacy_grace_period")
    assert body["expires_at"] == deadline.isoformat()


def test_legacy_expired(api_client):
    deadline = timezone.now() - timedelta(minutes=1)
    record(
        ContactFactory(phone=PHONE),
        Action.LEGACY,
        expires_at=deadline,
        at=timezone.now() - timedelta(days=1),
        source="import",
    )
    body = ask(api_client)
    assert (body["allowed"], body["reason"]) == (False, "legacy_expired")


def test_paused_says_until_when(api_client, marketing_notice):
    contact = ContactFactory(phone=PHONE)
    record(contact, Action.GRANT, notice=marketing_notice, at=timezone.now() - timedelta(hours=1))
    until = timezone.now() + timedelta(weeks=4)
    record(contact, Action.PAUSE, paused_until=until)
    body = ask(api_client)
    assert (body["allowed"], body["reason"], body["until"]) == (False, "paused", until.isoformat())


def test_unknown_contact_is_200_not_an_error(api_client):
    assert ask(api_client) == {
        "phone": PHONE,
        "purpose": "marketing",
        "allowed": False,
        "reason": "unknown_contact",
        "reason_label": "Not a known contact",
    }


@pytest.mark.parametrize("phone", ["nope", "12", "+999", ""])
def test_invalid_phone_is_200_with_the_phone_as_given(api_client, db, phone):
    body = ask(api_client, phone=phone)
    assert body == {
        "phone": phone,
        "purpose": "marketing",
        "allowed": False,
        "reason": "invalid_phone",
        "reason_label": "Not a valid phone number",
    }


def test_purposes_are_separate(api_client, marketing_notice):
    record(ContactFactory(phone=PHONE), Action.GRANT, notice=marketing_notice)
    assert ask(api_client, purpose="service")["reason"] == "no_consent"


def test_a_national_number_and_an_unencoded_plus_are_understood(api_client):
    record(ContactFactory(phone=PHONE), Action.WITHDRAW)
    assert ask(api_client, phone="07911 123456")["phone"] == PHONE
    response = api_client.get(URL + "?phone= 447911123456&purpose=marketing")
    assert (response.json()["phone"], response.json()["reason"]) == (PHONE, "opted_out")


def test_by_business_scoped_user_id(api_client):
    contact = ContactFactory(phone=None, wa_id=None, whatsapp_user_id="GB.1349")
    record(contact, Action.WITHDRAW)
    body = api_client.get(URL, {"whatsapp_user_id": "GB.1349", "purpose": "marketing"}).json()
    assert body == {
        "whatsapp_user_id": "GB.1349",
        "purpose": "marketing",
        "allowed": False,
        "reason": "opted_out",
        "reason_label": "Opted out",
    }
    unknown = api_client.get(URL, {"whatsapp_user_id": "GB.0", "purpose": "marketing"}).json()
    assert unknown["reason"] == "unknown_contact"


def test_an_erased_contact_that_opted_out_still_reads_opted_out(api_client):
    contact = ContactFactory(phone=PHONE)
    record(contact, Action.WITHDRAW)
    assert api_client.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 204
    assert ask(api_client)["reason"] == "opted_out"


def test_the_reason_in_words_follows_accept_language(api_client):
    record(ContactFactory(phone=PHONE), Action.WITHDRAW)
    response = api_client.get(
        URL, {"phone": PHONE, "purpose": "marketing"}, HTTP_ACCEPT_LANGUAGE="es"
    )
    assert response.json()["reason"] == "opted_out"
    assert response.json()["reason_label"] == "Se dio de baja"


def test_missing_purpose_or_person_is_400(api_client):
    assert_error(api_client.get(URL, {"phone": PHONE}), 400, "required", "purpose")
    assert_error(api_client.get(URL, {"purpose": "marketing"}), 400, "required", "phone")
    assert_error(
        api_client.get(URL, {"phone": PHONE, "purpose": "sms"}), 400, "invalid_choice", "purpose"
    )


def test_single_eligibility_is_one_query_after_authentication(
    api_client, marketing_notice, django_assert_max_num_queries
):
    record(ContactFactory(phone=PHONE), Action.GRANT, notice=marketing_notice)
    ask(api_client)  # records the key's use, at most once a minute
    # the API key lookup + the decision
    with django_assert_max_num_queries(2):
        assert ask(api_client)["allowed"] is True
    with django_assert_max_num_queries(2):
        assert ask(api_client, phone="+447911000999")["reason"] == "unknown_contact"


# --- Bulk ----------------------------------------------------------------------------


def test_bulk_answers_in_the_order_given(api_client, marketing_notice):
    record(ContactFactory(phone="+447911123456"), Action.GRANT, notice=marketing_notice)
    record(ContactFactory(phone="+447911123457"), Action.WITHDRAW)
    phones = ["07911 123457", "not a phone", "+447911123456", "+447911123458"]
    response = api_client.post(BULK, {"purpose": "marketing", "phones": phones}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "purpose": "marketing",
        "results": [
            {"phone": "+447911123457", "allowed": False, "reason": "opted_out"},
            {"phone": "not a phone", "allowed": False, "reason": "invalid_phone"},
            {"phone": "+447911123456", "allowed": True, "reason": "opted_in"},
            {"phone": "+447911123458", "allowed": False, "reason": "unknown_contact"},
        ],
    }


def test_bulk_answers_every_row_even_one_with_a_nul(api_client):
    response = api_client.post(
        BULK, {"purpose": "marketing", "phones": ["+44\x00", 12]}, format="json"
    )
    assert response.status_code == 200
    assert [r["reason"] for r in response.json()["results"]] == ["invalid_phone", "invalid_phone"]


def test_bulk_keeps_duplicates(api_client):
    response = api_client.post(
        BULK, {"purpose": "marketing", "phones": [PHONE, PHONE]}, format="json"
    )
    assert [r["phone"] for r in response.json()["results"]] == [PHONE, PHONE]


def test_bulk_accepts_ten_thousand_phones(api_client):
    phones = [f"+4479111{n:05d}" for n in range(10_000)]
    response = api_client.post(BULK, {"purpose": "marketing", "phones": phones}, format="json")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 10_000


def test_bulk_refuses_more_than_ten_thousand_phones(api_client):
    phones = ["+447911123456"] * 10_001
    response = api_client.post(BULK, {"purpose": "marketing", "phones": phones}, format="json")
    assert_error(response, 400, "max_length", "phones")


@pytest.mark.parametrize(
    ("body", "code", "attr"),
    [
        ({"phones": [PHONE]}, "required", "purpose"),
        ({"purpose": "marketing"}, "required", "phones"),
        ({"purpose": "marketing", "phones": PHONE}, "not_a_list", "phones"),
        ({"purpose": "marketing", "phones": [None]}, "null", "phones.0"),
    ],
)
def test_bulk_refuses_malformed_bodies(api_client, body, code, attr):
    assert_error(api_client.post(BULK, body, format="json"), 400, code, attr)


def test_bulk_query_count_is_constant(api_client, django_assert_max_num_queries, marketing_notice):
    for n in range(30):
        record(ContactFactory(phone=f"+4479111{n:05d}"), Action.GRANT, notice=marketing_notice)
    phones = [f"+4479111{n:05d}" for n in range(6_000)]
    api_client.post(BULK, {"purpose": "marketing", "phones": phones[:1]}, format="json")
    # the API key lookup + one query per 5,000 phones
    with django_assert_max_num_queries(3):
        response = api_client.post(BULK, {"purpose": "marketing", "phones": phones}, format="json")
    assert sum(r["allowed"] for r in response.json()["results"]) == 30
