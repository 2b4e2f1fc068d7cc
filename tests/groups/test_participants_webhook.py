"""`group_participants_update` by webhook: join requests reach the approval flow, a revoked
request closes, removals and leaves end the membership with who did it. Only an accepted
invitation makes a member, whatever the platform reports.

The payloads are Meta's `whatsapp_business_account` envelope with `field`
`group_participants_update` and `value.groups[]` items as Meta's "Webhooks for Groups API"
page lists the field (developers.facebook.com/documentation/business-messaging/whatsapp/
groups/webhooks, "Updated: Feb 11, 2026"; its participants examples were not readable in
full from here). The item keys are those two public handlers of these webhooks read:
`type` group_join_request_created / group_join_request_revoked with `wa_id`, `user_id`,
`join_request_id` on the item; group_participants_remove with `removed_participants[]`
(`wa_id`, `user_id`) and `initiated_by`; group_participants_add with `added_participants[]`
(github.com: a Laravel `WhatsAppGroupWebhookService` and a Frappe `whatsapp_core` relay,
found through the code search). Each delivery is signed with the app secret (HMAC-SHA256).
"""

from datetime import UTC, datetime

import pytest

from groups.models import Group, GroupMembership
from groups.services import invite_contact, respond_to_invitation
from groups.whatsapp_groups import decide_join_request
from tests.whatsapp.helpers import SECRET, post_webhook
from whatsapp.models import InboundEvent, OutboundMessage

pytestmark = pytest.mark.django_db

STAMP = 1796080300  # 30 Nov 2026, 22:31:40 UTC


@pytest.fixture(autouse=True)
def _signed_webhooks(settings):
    settings.WHATSAPP_APP_SECRET = SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "test-verify-token"


@pytest.fixture
def wa_group(db) -> Group:
    return Group.objects.create(
        name="VIP early access", purpose="marketing", whatsapp_group_id="120363000000001"
    )


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """POST a signed delivery and run what it queued for after commit (eager Celery)."""

    def run(payload: dict):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook(client, payload)
        assert response.status_code == 200
        assert [e.state for e in InboundEvent.objects.all()] == [InboundEvent.State.PROCESSED] * (
            InboundEvent.objects.count()
        )
        return response

    return run


def participants_update(group_id: str, **item) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "groups": [{"timestamp": str(STAMP), "group_id": group_id, **item}],
                        },
                        "field": "group_participants_update",
                    }
                ],
            }
        ],
    }


def join_request(group, contact_or_wa_id, request_id: str, kind="group_join_request_created"):
    wa_id = getattr(contact_or_wa_id, "wa_id", contact_or_wa_id)
    return participants_update(
        group.whatsapp_group_id,
        type=kind,
        join_request_id=request_id,
        wa_id=wa_id,
        user_id=f"GB.{wa_id}",
    )


def removal(group, *people, initiated_by: str) -> dict:
    return participants_update(
        group.whatsapp_group_id,
        type="group_participants_remove",
        initiated_by=initiated_by,
        removed_participants=[{"wa_id": p.wa_id, "user_id": f"GB.{p.wa_id}"} for p in people],
    )


def member_of(group, contact) -> GroupMembership:
    invitation = invite_contact(group=group, contact=contact)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    return GroupMembership.objects.get(group=group, contact=contact)


# --- Join requests --------------------------------------------------------------------------


def test_a_join_request_from_an_accepted_invitation_is_approved(
    fake_graph, wa_group, make_opted_in, deliver
):
    member = make_opted_in()
    member_of(wa_group, member)

    deliver(join_request(wa_group, member, "jr-member"))

    [approve] = fake_graph.calls_to("POST", "/join_requests")
    assert approve.body == {"messaging_product": "whatsapp", "join_requests": ["jr-member"]}
    assert not fake_graph.calls_to("DELETE", "/join_requests")


def test_a_join_request_without_an_accepted_invitation_is_rejected_and_makes_no_member(
    fake_graph, wa_group, make_opted_in, deliver
):
    only_invited = make_opted_in()
    invite_contact(group=wa_group, contact=only_invited)

    deliver(join_request(wa_group, only_invited, "jr-invited"))
    deliver(join_request(wa_group, "447911000999", "jr-stranger"))

    rejected = sorted(
        r.body["join_requests"][0] for r in fake_graph.calls_to("DELETE", "/join_requests")
    )
    assert rejected == ["jr-invited", "jr-stranger"]
    assert not fake_graph.calls_to("POST", "/join_requests")
    assert not GroupMembership.objects.exists()


def test_a_revoked_join_request_closes_the_decision_not_yet_sent(
    fake_graph, wa_group, make_opted_in, deliver
):
    member = make_opted_in()
    member_of(wa_group, member)
    # Decided, queued, not yet delivered (its commit has not come).
    decide_join_request(group=wa_group, request_id="jr-1", wa_id=member.wa_id)
    decide_join_request(group=wa_group, request_id="jr-10", wa_id=member.wa_id)

    deliver(join_request(wa_group, member, "jr-1", kind="group_join_request_revoked"))

    revoked = OutboundMessage.objects.get(origin__endswith=":jr-1")
    other = OutboundMessage.objects.get(origin__endswith=":jr-10")
    assert (revoked.status, revoked.skip_reason) == ("skipped", "join request revoked")
    assert other.status != "skipped"
    sent = [c.body["join_requests"] for c in fake_graph.calls_to("POST", "/join_requests")]
    assert ["jr-1"] not in sent


def test_a_join_request_for_a_group_we_do_not_know_is_stored_and_ignored(fake_graph, deliver):
    other = participants_update(
        "120363999999999", type="group_join_request_created", join_request_id="jr-y", wa_id="1"
    )

    deliver(other)

    assert InboundEvent.objects.get().kind == "group_participants"
    assert not OutboundMessage.objects.exists()


# --- Removals and leaves --------------------------------------------------------------------


def test_a_removal_by_the_business_ends_the_membership_and_records_who(
    fake_graph, wa_group, make_opted_in, deliver
):
    member = make_opted_in()
    membership = member_of(wa_group, member)

    deliver(removal(wa_group, member, initiated_by="business"))

    membership.refresh_from_db()
    assert membership.left_at == datetime.fromtimestamp(STAMP, tz=UTC)
    assert (membership.left_source, membership.left_initiated_by) == (
        "whatsapp_platform",
        "business",
    )
    # The platform removed them already: nothing is asked of it again.
    assert not fake_graph.calls_to("POST", "/participants")
    assert not OutboundMessage.objects.filter(kind="remove_participants").exists()


def test_everyone_who_left_at_once_leaves_with_who_did_it(
    fake_graph, wa_group, make_opted_in, deliver
):
    first, second, stays = make_opted_in(), make_opted_in(), make_opted_in()
    for contact in (first, second, stays):
        member_of(wa_group, contact)

    deliver(removal(wa_group, first, second, initiated_by="participant"))

    ended = GroupMembership.objects.filter(left_at__isnull=False)
    assert {(m.contact_id, m.left_initiated_by) for m in ended} == {
        (first.pk, "participant"),
        (second.pk, "participant"),
    }
    assert GroupMembership.objects.get(contact=stays).left_at is None


def test_leaving_twice_keeps_the_first_end(fake_graph, wa_group, make_opted_in, deliver):
    member = make_opted_in()
    membership = member_of(wa_group, member)
    deliver(removal(wa_group, member, initiated_by="participant"))
    later = participants_update(
        wa_group.whatsapp_group_id,
        type="group_participants_remove",
        initiated_by="business",
        removed_participants=[{"wa_id": member.wa_id}],
    )
    later["entry"][0]["changes"][0]["value"]["groups"][0]["timestamp"] = str(STAMP + 60)

    deliver(later)

    membership.refresh_from_db()
    assert membership.left_at == datetime.fromtimestamp(STAMP, tz=UTC)
    assert membership.left_initiated_by == "participant"


def test_an_add_reported_by_the_platform_never_makes_a_member(
    fake_graph, wa_group, make_opted_in, deliver
):
    stranger = make_opted_in()

    deliver(
        participants_update(
            wa_group.whatsapp_group_id,
            type="group_participants_add",
            added_participants=[{"wa_id": stranger.wa_id, "user_id": "GB.1"}],
        )
    )

    assert not GroupMembership.objects.exists()
    assert InboundEvent.objects.get().kind == "group_participants"


def test_the_join_request_and_its_person_are_read_from_the_item():
    from whatsapp.parsing import parse_group_participants, split_delivery

    payload = participants_update(
        "120363000000001",
        type="group_join_request_created",
        join_request_id="jr-9",
        wa_id="447911123456",
        user_id="GB.13491208655302741918",
    )
    [item] = split_delivery(payload)
    event = parse_group_participants(item.payload)

    assert (item.kind, item.sender, item.sender_user_id) == (
        "group_participants",
        "447911123456",
        "GB.13491208655302741918",
    )
    assert (event.type, event.request_id, event.participants) == (
        "group_join_request_created",
        "jr-9",
        (("447911123456", "GB.13491208655302741918"),),
    )
    assert event.timestamp == datetime.fromtimestamp(STAMP, tz=UTC)
