"""Staff work through what the ordering rule and the resolver set aside."""

from datetime import timedelta

import pytest

from consent.models import OutrankedOptOut, PolicyDeadlineChange
from consent.rules import Action
from consent.selectors import may_send
from contacts.models import Contact, LikelyDuplicate
from tests.consent_helpers import record
from tests.factories import ContactFactory, PolicyFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/consent/outrankedoptout/",
        "/admin/contacts/likelyduplicate/",
        "/admin/contacts/identitychange/",
        "/admin/consent/policydeadlinechange/",
    ],
)
def test_review_lists_render(staff_client, url):
    assert staff_client.get(url).status_code == 200


def test_staff_record_an_outranked_opt_out_now(staff_client, marketing_notice):
    ada = ContactFactory()
    grant = record(ada, Action.GRANT, notice=marketing_notice)
    record(ada, Action.WITHDRAW, at=grant.recorded_at - timedelta(days=1))
    item = OutrankedOptOut.objects.get()

    staff_client.post(
        "/admin/consent/outrankedoptout/",
        {"action": "withdraw_now", "_selected_action": [item.pk]},
    )

    item.refresh_from_db()
    assert item.resolution == OutrankedOptOut.Resolution.WITHDRAWN
    assert item.resolved_by == staff_client.user
    assert not may_send(ada, "marketing").allowed


def test_staff_merge_a_likely_duplicate_and_the_opt_out_wins(staff_client, marketing_notice):
    survivor = ContactFactory()
    record(survivor, Action.GRANT, notice=marketing_notice)
    duplicate = Contact.objects.create(whatsapp_user_id="GB.42")
    record(duplicate, Action.WITHDRAW)
    a, b = sorted((survivor.pk, duplicate.pk))
    pair = LikelyDuplicate.objects.create(first_id=a, second_id=b)

    page = staff_client.post(
        "/admin/contacts/likelyduplicate/",
        {"action": "merge_pairs", "_selected_action": [pair.pk]},
    )
    assert page.status_code == 200 and b"Which record survives" in page.content
    staff_client.post(
        "/admin/contacts/likelyduplicate/",
        {"action": "merge_pairs", "_selected_action": [pair.pk], "survivor": str(survivor.pk)},
    )

    duplicate.refresh_from_db()
    assert duplicate.merged_into == survivor
    assert not may_send(survivor, "marketing").allowed
    pair.refresh_from_db()
    assert pair.resolution == LikelyDuplicate.Resolution.MERGED


def test_staff_extend_a_policy_deadline_with_a_reason(staff_client):
    policy = PolicyFactory()
    later = policy.deadline + timedelta(days=14)

    staff_client.post(
        "/admin/consent/reconsentpolicy/",
        {
            "action": "extend_deadline",
            "_selected_action": [policy.pk],
            "new_deadline_0": later.strftime("%Y-%m-%d"),
            "new_deadline_1": later.strftime("%H:%M:%S"),
            "reason": "more time for re-consent",
        },
    )

    change = PolicyDeadlineChange.objects.get()
    assert change.changed_by == staff_client.user and change.reason == "more time for re-consent"
    policy.refresh_from_db()
    assert policy.deadline.date() == later.date()


def test_failed_opt_outs_are_listed_as_unprocessed_opt_outs(staff_client, client, settings):
    from tests.whatsapp.helpers import sign

    settings.WHATSAPP_APP_SECRET = "test-app-secret"
    body = b'{"entry": [{"changes": [{"value": {"messages": [{"text": "STOP"'  # cut short
    client.post(
        "/webhooks/whatsapp/",
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": sign(body, "test-app-secret")},
    )

    page = staff_client.get("/admin/whatsapp/inboundevent/?unprocessed_opt_out=yes")

    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
