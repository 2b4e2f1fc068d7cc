import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from campaigns.selectors import NO_WHATSAPP_ADDRESS, campaign_audience, preview_campaign
from contacts.models import Contact, Tag
from tests.campaigns.conftest import make_contact

pytestmark = pytest.mark.django_db


def test_preview_counts_eligible_and_ineligible_contacts_with_reasons(campaign):
    # given
    for story in ["opted_in", "opted_in", "legacy", "opted_out", "expired", "pending", "paused"]:
        make_contact(story)
    make_contact(None)
    # a WhatsApp username and no phone: reached by its business-scoped id
    Contact.objects.create(whatsapp_user_id="GB.123", name="Username only")
    Contact.objects.get(whatsapp_user_id="GB.123").consent_states.create(
        purpose="marketing", status="opted_in"
    )

    # when
    preview = preview_campaign(campaign=campaign)

    # then
    assert preview.total == 9
    assert preview.eligible == 4
    assert preview.eligible_reasons == {"opted_in": 3, "legacy_grace_period": 1}
    assert preview.ineligible == {
        "opted_out": 1,
        "legacy_expired": 1,
        "pending_confirmation": 1,
        "paused": 1,
        "no_consent": 1,
    }
    assert NO_WHATSAPP_ADDRESS not in preview.ineligible
    assert preview.ineligible_total == 5


def test_erased_contacts_are_never_in_the_audience(campaign):
    contact = make_contact("opted_in")
    Contact.objects.filter(pk=contact.pk).update(erased_at=contact.created_at)

    assert preview_campaign(campaign=campaign).total == 0


def test_audience_takes_contacts_with_any_of_the_tags(campaign):
    vip, staff = Tag.objects.create(name="vip"), Tag.objects.create(name="staff")
    tagged_vip = make_contact("opted_in")
    tagged_vip.tags.add(vip)
    tagged_both = make_contact("opted_in")
    tagged_both.tags.add(vip, staff)
    make_contact("opted_in")
    campaign.audience_tags.set([vip, staff])

    assert set(campaign_audience(campaign)) == {tagged_vip, tagged_both}


def test_audience_matches_every_attribute_as_text(campaign):
    leeds_30 = make_contact("opted_in", attributes={"city": "Leeds", "age": 30})
    make_contact("opted_in", attributes={"city": "Leeds", "age": 41})
    make_contact("opted_in", attributes={"city": "York", "age": 30})
    campaign.audience_attributes = {"city": "Leeds", "age": "30"}

    assert list(campaign_audience(campaign)) == [leeds_30]


def test_audience_by_consent_state_counts_no_record_as_none(campaign):
    legacy = make_contact("legacy")
    never_asked = make_contact(None)
    make_contact("opted_in")
    campaign.audience_states = ["legacy", "none"]

    assert set(campaign_audience(campaign)) == {legacy, never_asked}


def test_preview_runs_a_constant_number_of_queries(campaign):
    def queries_for(contacts: int) -> int:
        for n in range(contacts):
            make_contact("opted_in" if n % 2 else "opted_out")
        fresh = Campaign.objects.get(pk=campaign.pk)
        with CaptureQueriesContext(connection) as captured:
            preview_campaign(campaign=fresh)
        return len(captured.captured_queries)

    # tags, one grouped count (in a savepoint, with its settings on PostgreSQL), merged ones
    assert queries_for(20) == queries_for(60) <= 7
    preview = preview_campaign(campaign=campaign)
    assert (preview.eligible, preview.ineligible_total) == (40, 40)
