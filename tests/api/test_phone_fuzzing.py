"""Hypothesis: no string, however odd, used as a phone makes the API fail with a 500."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.models import ConsentEvent

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
phones = st.one_of(
    st.text(max_size=50),
    st.from_regex(r"\A[+ ]?[0-9 ()\-.]{0,20}\Z"),
    st.sampled_from(["+447911123456", " 447911123456", "07911 123456", "+1 202-555-0143"]),
)


def _assert_not_a_server_error(response):
    assert response.status_code < 500, response.content
    assert "json" in response["Content-Type"]


@FUZZ
@given(phone=phones)
def test_single_eligibility_answers_any_phone(api_client, phone):
    response = api_client.get("/api/v1/eligibility/", {"phone": phone, "purpose": "marketing"})
    _assert_not_a_server_error(response)


@FUZZ
@given(batch=st.lists(phones, max_size=20))
def test_bulk_eligibility_answers_any_phones(api_client, batch):
    response = api_client.post(
        "/api/v1/eligibility/bulk/", {"purpose": "marketing", "phones": batch}, format="json"
    )
    _assert_not_a_server_error(response)
    assert response.status_code == 200
    assert len(response.json()["results"]) == len(batch)


@FUZZ
@given(phone=phones)
def test_recording_consent_with_any_phone_is_201_or_400(api_client, phone):
    before = ConsentEvent.objects.count()
    response = api_client.post(
        "/api/v1/consent-events/",
        {"phone": phone, "purpose": "marketing", "action": "withdraw"},
        format="json",
    )
    _assert_not_a_server_error(response)
    assert response.status_code in (201, 400)
    assert ConsentEvent.objects.count() == before + (response.status_code == 201)


@FUZZ
@given(phone=phones)
def test_upserting_and_filtering_contacts_with_any_phone(api_client, phone):
    _assert_not_a_server_error(
        api_client.post("/api/v1/contacts/", {"phone": phone}, format="json")
    )
    _assert_not_a_server_error(api_client.get("/api/v1/contacts/", {"phone": phone}))
    _assert_not_a_server_error(api_client.get("/api/v1/consent-events/", {"phone": phone}))
