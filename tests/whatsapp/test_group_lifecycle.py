"""`group_lifecycle_update`: the group we asked for exists, with its id and invite link.

Payload shapes as Meta's "Webhooks for Groups API" reference gives them (value.groups[]
with type group_create, request_id, group_id, invite_link; errors[] when it failed).
"""

import pytest

from groups.models import Group
from tests.whatsapp.helpers import load_payload
from whatsapp.models import InboundEvent
from whatsapp.parsing import parse_event, split_delivery

pytestmark = pytest.mark.django_db

GROUP_ID = "Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjAzNjMzOTQ2NzQ2MjgzNTQZD"


@pytest.fixture
def asked_for(db) -> Group:
    return Group.objects.create(
        name="VIP early access", purpose="marketing", whatsapp_request_id="REQUEST-VIP-1"
    )


def test_a_lifecycle_item_is_parsed_into_a_typed_event():
    [item] = split_delivery(load_payload("group_lifecycle_create"))

    event = parse_event(item.kind, item.payload)

    assert item.kind == "group_lifecycle"
    assert (event.type, event.request_id, event.group_id) == (
        "group_create",
        "REQUEST-VIP-1",
        GROUP_ID,
    )
    assert event.invite_link == "https://chat.whatsapp.com/LINKVIP1"
    assert event.succeeded


def test_the_webhook_completes_the_group_without_polling(deliver, asked_for):
    response = deliver(load_payload("group_lifecycle_create"))

    assert response.status_code == 200
    asked_for.refresh_from_db()
    assert asked_for.whatsapp_group_id == GROUP_ID
    assert asked_for.invite_link == "https://chat.whatsapp.com/LINKVIP1"
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED


def test_a_repeated_webhook_is_stored_once(deliver, asked_for):
    deliver(load_payload("group_lifecycle_create"))
    deliver(load_payload("group_lifecycle_create"))

    assert InboundEvent.objects.count() == 1


def test_a_failed_creation_leaves_the_group_waiting(deliver, asked_for):
    deliver(load_payload("group_lifecycle_create_failed"))

    asked_for.refresh_from_db()
    assert asked_for.whatsapp_group_id is None
    event = parse_event("group_lifecycle", InboundEvent.objects.get().payload)
    assert event.errors == [(131215, "Group creation failed")]
    assert not event.succeeded


def test_a_group_nobody_asked_for_changes_nothing(deliver, db):
    deliver(load_payload("group_lifecycle_create"))

    assert not Group.objects.exists()
