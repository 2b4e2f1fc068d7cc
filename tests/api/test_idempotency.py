"""Idempotency-Key: a retried POST records nothing new and gets the first answer back."""

from datetime import timedelta

from django.utils import timezone

from api.idempotency import purge_idempotency_records
from api.models import IdempotencyRecord
from api.scopes import SCOPES
from consent.models import ConsentEvent
from contacts.models import Contact
from tests.api.conftest import assert_error, client_with_key

EVENTS = "/api/v1/consent-events/"
WITHDRAW = {"phone": "+447911123456", "purpose": "marketing", "action": "withdraw"}


def post(client, body, key="retry-1", url=EVENTS):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_replay_returns_the_first_response_and_records_nothing(api_client):
    first = post(api_client, WITHDRAW)
    again = post(api_client, WITHDRAW)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ConsentEvent.objects.count() == 1
    assert Contact.objects.count() == 1


def test_the_same_key_with_another_body_is_409(api_client):
    post(api_client, WITHDRAW)
    response = post(api_client, {**WITHDRAW, "purpose": "service"})
    assert_error(response, 409, "idempotency_conflict")
    assert ConsentEvent.objects.count() == 1


def test_the_same_body_with_keys_in_another_order_is_a_replay(api_client):
    post(api_client, WITHDRAW)
    reordered = dict(reversed(list(WITHDRAW.items())))
    assert post(api_client, reordered)["Idempotent-Replayed"] == "true"


def test_different_keys_record_twice(api_client):
    post(api_client, WITHDRAW, key="a")
    post(api_client, WITHDRAW, key="b")
    assert ConsentEvent.objects.count() == 2


def test_keys_are_scoped_to_the_api_key(api_client):
    other = client_with_key(*SCOPES, name="other integration")
    post(api_client, WITHDRAW)
    response = post(other, WITHDRAW)
    assert "Idempotent-Replayed" not in response
    assert ConsentEvent.objects.count() == 2


def test_an_error_answer_is_replayed_too(api_client):
    bad = {**WITHDRAW, "action": "grant"}  # no notice
    first = post(api_client, bad)
    again = post(api_client, bad)
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def test_a_refused_transition_is_replayed_even_after_the_state_changed(api_client):
    # given a legacy import refused because the person had opted out
    api_client.post(EVENTS, WITHDRAW, format="json")
    legacy = {**WITHDRAW, "action": "legacy", "expires_at": "2030-01-01T00:00:00Z"}
    first = post(api_client, legacy)
    assert first.status_code == 409
    # when the same request is retried
    again = post(api_client, legacy)
    # then it gets the same answer from storage
    assert (again.status_code, again["Idempotent-Replayed"]) == (409, "true")
    assert again.json() == first.json()


def test_contact_upserts_are_idempotent(api_client):
    body = {"phone": "+447911123456", "name": "Ada"}
    first = post(api_client, body, url="/api/v1/contacts/")
    again = post(api_client, body, url="/api/v1/contacts/")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]


def test_any_key_works_even_a_very_long_one(api_client):
    key = "k" * 5000
    post(api_client, WITHDRAW, key=key)
    assert post(api_client, WITHDRAW, key=key)["Idempotent-Replayed"] == "true"
    assert ConsentEvent.objects.count() == 1


def test_a_request_that_crashes_frees_its_key(api_client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("consent.api.views.record_for_person", explode)
    api_client.raise_request_exception = False
    assert post(api_client, WITHDRAW).status_code == 500
    monkeypatch.undo()
    assert post(api_client, WITHDRAW).status_code == 201
    assert ConsentEvent.objects.count() == 1


def test_a_retry_while_the_first_request_is_in_progress_is_409(api_client):
    # given the first request claimed the key and has not answered yet
    post(api_client, WITHDRAW)
    IdempotencyRecord.objects.update(status_code=None, body=None)
    # when
    response = post(api_client, WITHDRAW)
    # then
    assert_error(response, 409, "idempotency_busy")
    assert ConsentEvent.objects.count() == 1


def test_keys_are_kept_at_least_a_day(api_client, settings):
    assert settings.API_IDEMPOTENCY_TTL_SECONDS >= 24 * 60 * 60
    post(api_client, WITHDRAW)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=23))
    assert post(api_client, WITHDRAW)["Idempotent-Replayed"] == "true"
    assert purge_idempotency_records() == 0


def test_expired_keys_are_purged_and_may_be_reused(api_client, settings):
    post(api_client, WITHDRAW)
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.API_IDEMPOTENCY_TTL_SECONDS + 1)
    )
    assert purge_idempotency_records() == 1
    assert "Idempotent-Replayed" not in post(api_client, WITHDRAW)
    assert ConsentEvent.objects.count() == 2


def test_the_beat_task_purges_expired_keys(api_client, settings):
    from api.tasks import purge_expired_idempotency_records

    post(api_client, WITHDRAW)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=30))
    assert purge_expired_idempotency_records() == 1
    assert "purge-expired-idempotency-records" in settings.CELERY_BEAT_SCHEDULE
