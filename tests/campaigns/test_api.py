import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from contacts.models import Tag
from tests.api.conftest import assert_error, client_with_key
from tests.campaigns.conftest import client_for, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


@pytest.fixture
def reader():
    return client_with_key("campaigns:read")


@pytest.fixture
def writer():
    return client_with_key("campaigns:read", "campaigns:write")


def test_list_shows_campaigns_with_counts_per_status(reader, campaign):
    Message.objects.create(campaign=campaign, contact=make_contact(), status=MessageStatus.SENT)
    Message.objects.create(campaign=campaign, contact=make_contact(), status=MessageStatus.READ)

    response = reader.get("/api/v1/campaigns/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    [item] = body["results"]
    assert item["id"] == str(campaign.pk)
    assert item["status"] == "draft"
    assert item["counts"] == {
        "queued": 0,
        "sending": 0,
        "skipped": 0,
        "sent": 1,
        "delivered": 0,
        "read": 1,
        "failed": 0,
        "unknown": 0,
    }


def test_detail_shows_the_audience_and_counts(reader, campaign):
    campaign.audience_tags.set([Tag.objects.create(name="vip")])
    campaign.audience_attributes = {"city": "Leeds"}
    campaign.audience_states = ["opted_in"]
    campaign.save()

    response = reader.get(f"/api/v1/campaigns/{campaign.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["audience"] == {
        "tags": ["vip"],
        "attributes": {"city": "Leeds"},
        "consent_states": ["opted_in"],
    }
    assert body["counts"]["queued"] == 0
    assert body["template_name"] == "winter_sale"


def test_an_unknown_campaign_is_404(reader):
    response = reader.get(f"/api/v1/campaigns/{uuid.uuid4()}/")

    assert_error(response, 404, "not_found")


def test_reading_needs_the_campaigns_read_scope(campaign):
    response = client_with_key("contacts:read").get("/api/v1/campaigns/")

    assert_error(response, 403, "permission_denied")


def test_no_key_is_401(client, campaign):
    response = client.get("/api/v1/campaigns/")

    assert response.status_code == 401


def test_launch_starts_sending(writer, campaign, whatsapp, django_capture_on_commit_callbacks):
    contact = make_contact("opted_in")

    with django_capture_on_commit_callbacks(execute=True):
        response = writer.post(f"/api/v1/campaigns/{campaign.pk}/launch/")

    assert response.status_code == 202
    assert response.json()["status"] == "launched"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert Message.objects.get(contact=contact).status == MessageStatus.SENT


def test_launching_twice_is_409_with_a_clear_code(
    writer, campaign, whatsapp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        writer.post(f"/api/v1/campaigns/{campaign.pk}/launch/")

    response = writer.post(f"/api/v1/campaigns/{campaign.pk}/launch/")

    body = assert_error(response, 409, "campaign_already_launched")
    assert body["errors"][0]["current_status"] == "done"


def test_launch_needs_the_campaigns_write_scope(reader, campaign):
    response = reader.post(f"/api/v1/campaigns/{campaign.pk}/launch/")

    assert_error(response, 403, "permission_denied")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_launching_an_unknown_campaign_is_404(writer):
    response = writer.post(f"/api/v1/campaigns/{uuid.uuid4()}/launch/")

    assert_error(response, 404, "not_found")


def test_a_replayed_launch_with_the_same_idempotency_key_returns_the_first_answer(
    writer, campaign, whatsapp, django_capture_on_commit_callbacks
):
    url = f"/api/v1/campaigns/{campaign.pk}/launch/"
    with django_capture_on_commit_callbacks(execute=True):
        first = writer.post(url, HTTP_IDEMPOTENCY_KEY="launch-winter")

    again = writer.post(url, HTTP_IDEMPOTENCY_KEY="launch-winter")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()


def test_the_list_costs_the_same_queries_for_one_campaign_or_many(reader, campaign):
    reader.get("/api/v1/campaigns/")  # first use of the key is noted once
    with CaptureQueriesContext(connection) as one:
        reader.get("/api/v1/campaigns/")
    for n in range(5):
        other = Campaign.objects.create(
            name=f"Sale {n}", kind="marketing", purpose="marketing", template_name="sale"
        )
        other.audience_tags.set([Tag.objects.get_or_create(name=f"tag{n}")[0]])
        Message.objects.create(campaign=other, contact=make_contact(), status=MessageStatus.SENT)
    with CaptureQueriesContext(connection) as many:
        response = reader.get("/api/v1/campaigns/")

    assert len(response.json()["results"]) == 6
    assert len(many) == len(one)


def test_staff_signed_in_need_the_launch_permission_to_launch(outsider, marketing_user, campaign):
    refused = client_for(outsider).post(f"/api/v1/campaigns/{campaign.pk}/launch/")
    assert_error(refused, 403, "permission_denied")

    allowed = client_for(marketing_user).post(f"/api/v1/campaigns/{campaign.pk}/launch/")
    assert allowed.status_code == 202


def test_the_list_filters_by_status(reader, campaign):
    Campaign.objects.create(
        name="Old", kind="marketing", purpose="marketing", template_name="t", status="done"
    )

    response = reader.get("/api/v1/campaigns/", {"status": "done"})

    assert [c["name"] for c in response.json()["results"]] == ["Old"]
