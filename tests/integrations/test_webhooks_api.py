"""Webhook endpoints and the change feed over the REST API (API.md, "Telling integrations")."""

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.test import APIClient

from integrations.models import ChangeType, WebhookEndpoint
from integrations.services import record_change
from tests.api.conftest import assert_error, client_with_key

URL = "/api/v1/webhook-endpoints/"
FEED = "/api/v1/changes/"


@pytest.fixture
def hooks(db):
    return client_with_key("webhooks:write")


def register(client, **body):
    body = {"url": "https://hooks.example.com/consent", "events": ["consent.changed"], **body}
    return client.post(URL, body, format="json")


def test_registering_answers_the_secret_once(hooks):
    response = register(hooks)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["consent.changed"] and body["enabled"] is True

    shown = hooks.get(f"{URL}{body['id']}/").json()
    assert "secret" not in shown
    assert "secret" not in hooks.get(URL).json()["results"][0]


def test_patch_changes_events_and_enabled_only(hooks):
    endpoint = register(hooks).json()
    response = hooks.patch(
        f"{URL}{endpoint['id']}/",
        {"events": ["contact.erased"], "enabled": False, "url": "https://evil.example"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["events"] == ["contact.erased"]
    assert response.json()["enabled"] is False
    assert response.json()["url"] == "https://hooks.example.com/consent"


def test_rotating_gives_a_new_secret_and_keeps_the_old_for_a_day(hooks):
    endpoint = register(hooks).json()
    response = hooks.post(f"{URL}{endpoint['id']}/rotate-secret/")
    assert response.status_code == 200
    assert response.json()["secret"] != endpoint["secret"]
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert stored.previous_secret == endpoint["secret"]


def test_delete_removes_the_endpoint(hooks):
    endpoint = register(hooks).json()
    assert hooks.delete(f"{URL}{endpoint['id']}/").status_code == 204
    assert hooks.get(f"{URL}{endpoint['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"events": ["consent.exploded"]}, "events.0"),
        ({"events": []}, "events"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://hooks.example.com/"}, "url"),
    ],
)
def test_bad_input_names_the_field(hooks, body, attr):
    response = register(hooks, **body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == attr
    assert not WebhookEndpoint.objects.exists()


def test_a_private_url_is_refused_in_production(hooks, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert_error(register(hooks, url="https://10.1.2.3/hook"), 400, "url_not_allowed", "url")


def test_endpoints_need_the_webhooks_scope(db):
    reader = client_with_key("consent:read", "contacts:write")
    assert register(reader).status_code == 403
    assert reader.get(URL).status_code == 403
    assert APIClient().get(URL).status_code == 401


def test_compliance_staff_manage_endpoints_marketing_do_not(db, django_user_model):
    def session(role):
        user = django_user_model.objects.create_user(role, password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client = APIClient()
        client.force_authenticate(user)
        return client

    assert register(session("Compliance")).status_code == 201
    assert register(session("Marketing")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_feed_pages_with_an_opaque_cursor():
    client = client_with_key("consent:read")
    for n in range(3):
        with transaction.atomic():
            record_change(type=ChangeType.CAMPAIGN_FINISHED, data={"n": n})

    first = client.get(FEED, {"limit": 2}).json()
    assert [c["data"]["n"] for c in first["results"]] == [0, 1]
    assert set(first["results"][0]) == {"id", "type", "created_at", "contact", "sequence", "data"}
    second = client.get(FEED, {"after": first["next"], "limit": 2}).json()
    assert [c["data"]["n"] for c in second["results"]] == [2]
    end = client.get(FEED, {"after": second["next"]}).json()
    assert end == {"results": [], "next": second["next"]}
    assert client.get(FEED, {"types": "contact.erased"}).json()["results"] == []


@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ({"after": "garbage!"}, "after"),
        ({"types": "consent.exploded"}, "types"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_the_feed_refuses_bad_input_with_a_400(db, query, attr):
    response = client_with_key("consent:read").get(FEED, query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == attr


def test_the_feed_needs_consent_read(db):
    assert client_with_key("contacts:read").get(FEED).status_code == 403
