"""Topics over the REST API: the list, topic answers on /consent-events/, the contact body
and eligibility narrowed to a topic."""

import pytest

from consent.models import ConsentEvent, TopicState
from consent.rules import Action
from consent.services import retire_topic
from tests.api.conftest import assert_error, client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory, TopicFactory, TopicNoticeFactory
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db
URL = "/api/v1/consent-events/"


@pytest.fixture
def api():
    return client_with_key("consent:read", "consent:write", "contacts:read")


def grant_body(contact, **changes):
    return {
        "phone": str(contact.phone),
        "purpose": "marketing",
        "topic": "offers",
        "action": "grant",
        "notice": "marketing/offers/en/1",
        **changes,
    }


class TestTheTopicList:
    def test_lists_offered_topics_with_names_and_notice_refs(self, api, offers, arrivals):
        retire_topic(topic=TopicFactory(key="old"))

        body = api.get("/api/v1/topics/?purpose=marketing").json()

        assert [(t["key"], t["purpose"]) for t in body["results"]] == [
            ("new_arrivals", "marketing"),
            ("offers", "marketing"),
        ]
        assert body["results"][1]["names"] == {"en": "Offers", "es": "Ofertas"}
        assert body["results"][1]["notices"] == ["marketing/offers/en/1", "marketing/offers/es/1"]

    def test_filters_by_purpose_and_needs_consent_read(self, offers):
        assert (
            client_with_key("consent:read").get("/api/v1/topics/?purpose=service").json()["results"]
            == []
        )
        assert client_with_key("contacts:read").get("/api/v1/topics/").status_code == 403

    def test_an_unknown_purpose_is_a_400(self, api):
        assert_error(api.get("/api/v1/topics/?purpose=nope"), 400, "invalid_choice", "purpose")


class TestRecordingATopicAnswer:
    def test_a_grant_is_recorded_with_its_topic_and_the_topics_state(self, api, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        answer = api.post(URL, grant_body(contact), format="json")

        assert answer.status_code == 201, answer.content
        body = answer.json()
        assert (body["topic"], body["notice"], body["status_after"]) == (
            "offers",
            "marketing/offers/en/1",
            "opted_in",
        )
        assert body["state"]["status"] == "opted_in"
        assert TopicState.objects.get(contact=contact).status == "opted_in"

    def test_a_grant_without_the_purpose_is_a_409(self, api, offers):
        contact = ContactFactory()

        body = assert_error(
            api.post(URL, grant_body(contact), format="json"), 409, "purpose_not_granted"
        )

        assert body["errors"][0]["current_status"] == "none"
        assert not TopicState.objects.exists()

    def test_an_unknown_topic_is_a_400_naming_the_field(self, api, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        answer = api.post(URL, grant_body(contact, topic="nope"), format="json")

        assert_error(answer, 400, "unknown_topic", "topic")

    def test_a_topic_of_another_purpose_is_unknown_here(self, api, offers):
        TopicNoticeFactory(topic=TopicFactory(purpose="service", key="delivery"))
        contact = ContactFactory()
        record(contact, Action.GRANT)

        answer = api.post(URL, grant_body(contact, topic="delivery"), format="json")

        assert_error(answer, 400, "unknown_topic", "topic")

    def test_a_retired_topic_is_granted_no_more_but_withdrawn(self, api, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        retire_topic(topic=offers)

        granted = api.post(URL, grant_body(contact), format="json")
        withdrawn = api.post(
            URL, grant_body(contact, action="withdraw", notice=None), format="json"
        )

        assert_error(granted, 400, "topic_retired", "topic")
        assert withdrawn.status_code == 201

    def test_the_purposes_notice_does_not_grant_a_topic(self, api, offers, marketing_notice):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        answer = api.post(URL, grant_body(contact, notice="marketing/en/1"), format="json")

        assert_error(answer, 400, "notice_required", "notice")

    def test_a_topic_is_granted_or_withdrawn_only(self, api, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        answer = api.post(URL, grant_body(contact, action="request"), format="json")

        assert_error(answer, 400, "invalid_choice", "action")

    def test_a_withdrawal_for_an_unknown_phone_is_kept(self, api, offers):
        answer = api.post(
            URL,
            {
                "phone": "+447911000999",
                "purpose": "marketing",
                "topic": "offers",
                "action": "withdraw",
            },
            format="json",
        )

        assert answer.status_code == 201
        assert ConsentEvent.objects.get().topic == "offers"

    def test_a_purpose_withdrawal_withdraws_its_topics(self, api, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)

        api.post(
            URL,
            {"phone": str(contact.phone), "purpose": "marketing", "action": "withdraw"},
            format="json",
        )

        assert TopicState.objects.get(contact=contact).status == "opted_out"


def test_the_contact_body_shows_each_topic_under_its_purpose(api, offers, arrivals):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)

    body = api.get(f"/api/v1/contacts/{contact.pk}/").json()

    topics = body["consents"]["marketing"]["topics"]
    assert topics["offers"]["status"] == "opted_in"
    assert topics["offers"]["notice"] == "marketing/offers/en/1"
    assert topics["new_arrivals"] == {"status": "none", "since": None, "notice": None}
    assert body["consents"]["service"]["topics"] == {}


class TestEligibility:
    def test_one_phone_is_narrowed_to_the_topic(self, api, offers, arrivals):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)
        answer_topic(contact, arrivals, Action.WITHDRAW)
        ask = f"/api/v1/eligibility/?phone={contact.phone}&purpose=marketing&topic="

        kept = api.get(ask + "offers").json()
        left = api.get(ask + "new_arrivals").json()

        assert (kept["allowed"], kept["reason"], kept["topic"]) == (True, "opted_in", "offers")
        assert (left["allowed"], left["reason"]) == (False, "topic_opted_out")
        assert left["reason_label"] == "Opted out of this topic"

    def test_a_topic_never_asked_about_answers_topic_no_consent(self, api, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        body = api.get(
            f"/api/v1/eligibility/?phone={contact.phone}&purpose=marketing&topic=offers"
        ).json()

        assert (body["allowed"], body["reason"]) == (False, "topic_no_consent")

    def test_the_purpose_still_speaks_first(self, api, offers):
        contact = ContactFactory()
        record(contact, Action.WITHDRAW)

        body = api.get(
            f"/api/v1/eligibility/?phone={contact.phone}&purpose=marketing&topic=offers"
        ).json()

        assert body["reason"] == "opted_out"

    def test_an_unknown_topic_is_a_400(self, api):
        answer = api.get("/api/v1/eligibility/?phone=%2B447911123456&purpose=marketing&topic=x")

        assert_error(answer, 400, "unknown_topic", "topic")

    def test_many_phones_are_narrowed_in_order(self, api, offers):
        kept, silent = ContactFactory(), ContactFactory()
        record(kept, Action.GRANT)
        record(silent, Action.GRANT)
        answer_topic(kept, offers, Action.GRANT)

        body = api.post(
            "/api/v1/eligibility/bulk/",
            {
                "purpose": "marketing",
                "topic": "offers",
                "phones": [str(kept.phone), str(silent.phone), "no"],
            },
            format="json",
        ).json()

        assert body["topic"] == "offers"
        assert [r["reason"] for r in body["results"]] == [
            "opted_in",
            "topic_no_consent",
            "invalid_phone",
        ]

    def test_a_bulk_question_about_an_unknown_topic_is_a_400(self, api):
        answer = api.post(
            "/api/v1/eligibility/bulk/",
            {"purpose": "marketing", "topic": "x", "phones": []},
            format="json",
        )

        assert_error(answer, 400, "unknown_topic", "topic")


def test_the_schema_describes_topics(api):
    schema = api.get("/api/schema/?format=json").json()

    assert "/api/v1/topics/" in schema["paths"]
    summary = schema["components"]["schemas"]["ConsentSummary"]["properties"]
    assert "topics" in summary
    assert "topic" in schema["components"]["schemas"]["ConsentEventInputRequest"]["properties"]


def test_the_ledger_lists_topic_events_in_a_constant_number_of_queries(
    api, offers, django_assert_max_num_queries
):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)
    api.get(URL)  # the key's last use is recorded once a minute
    with django_assert_max_num_queries(10) as few:
        api.get(URL)
    for _ in range(5):
        answer_topic(contact, offers, Action.WITHDRAW)
        answer_topic(contact, offers, Action.GRANT)

    with django_assert_max_num_queries(len(few.captured_queries)):
        body = api.get(URL).json()

    assert body["results"][1]["notice"] == "marketing/offers/en/1"


@pytest.mark.parametrize("key", ["off\x00ers", "x" * 65, "ofertas-ñ", ""])
def test_a_hostile_topic_is_a_400_or_ignored_never_a_500(api, offers, key):
    contact = ContactFactory()
    record(contact, Action.GRANT)

    posted = api.post(URL, grant_body(contact, topic=key), format="json")
    asked = api.get(
        "/api/v1/eligibility/", {"phone": str(contact.phone), "purpose": "marketing", "topic": key}
    )
    bulk = api.post(
        "/api/v1/eligibility/bulk/",
        {"purpose": "marketing", "topic": key, "phones": [str(contact.phone)]},
        format="json",
    )

    for answer in (posted, asked, bulk):
        assert answer.status_code < 500, answer.content
    if key:
        assert_error(posted, 400, posted.json()["errors"][0]["code"], "topic")
