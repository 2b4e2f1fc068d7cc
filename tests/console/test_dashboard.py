"""The admin's home page: consent at a glance, from a snapshot beat refreshes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Message,
    MessageStatus,
    ReminderSent,
)
from consent.rules import Action, Purpose, Source
from consent.services import Evidence
from console.models import DashboardSnapshot
from console.selectors import cards, dashboard_figures, latest_snapshots, work_waiting
from console.services import refresh_dashboard_snapshot
from console.tasks import refresh_dashboard
from conversation.models import OptOutReview
from tests.campaigns.conftest import make_contact
from tests.consent_helpers import record
from tests.factories import ContactFactory, PolicyFactory

pytestmark = pytest.mark.django_db


def test_state_counts_per_purpose_count_contacts_without_a_state_as_none():
    make_contact("opted_in")
    make_contact("opted_in")
    make_contact("opted_out")
    make_contact("legacy")
    ContactFactory()

    states = dashboard_figures()["states"]

    assert states["marketing"]["opted_in"] == 2
    assert states["marketing"]["opted_out"] == 1
    assert states["marketing"]["legacy"] == 1
    assert states["marketing"]["none"] == 1
    assert states["service"]["none"] == 5


def test_daily_answers_count_opt_ins_and_opt_outs_by_day_of_effect_and_source():
    contact = ContactFactory()
    ten_days_ago = timezone.now() - timedelta(days=10)
    record(contact, Action.GRANT, source=Source.WEB_FORM, at=ten_days_ago)
    record(contact, Action.WITHDRAW, source=Source.WHATSAPP_KEYWORD)
    record(
        ContactFactory(),
        Action.GRANT,
        source=Source.WEB_FORM,
        at=timezone.now() - timedelta(days=120),
    )

    daily = dashboard_figures()["daily"]

    assert {(r["action"], r["source"], r["n"]) for r in daily} == {
        ("grant", "web_form", 1),
        ("withdraw", "whatsapp_keyword", 1),
    }
    assert {r["day"] for r in daily if r["action"] == "grant"} == {
        timezone.localdate(ten_days_ago).isoformat()
    }


def test_changes_over_7_and_30_days_compare_with_the_snapshots_of_those_days():
    today = timezone.localdate()
    DashboardSnapshot.objects.create(
        day=today - timedelta(days=7), figures={"states": {"marketing": {"opted_in": 1}}}
    )
    make_contact("opted_in")
    make_contact("opted_in")
    make_contact("opted_in")
    refresh_dashboard_snapshot()

    latest, earlier = latest_snapshots()

    assert latest.day == today
    assert 7 in earlier and 30 not in earlier
    opted_in = next(
        c for c in cards(latest, earlier) if (c.purpose, c.status) == ("marketing", "opted_in")
    )
    assert (opted_in.count, opted_in.change_7, opted_in.change_30) == (3, 2, None)


def test_a_refresh_rewrites_todays_snapshot_only():
    refresh_dashboard_snapshot()
    make_contact("opted_out")
    refresh_dashboard()

    assert DashboardSnapshot.objects.count() == 1
    assert DashboardSnapshot.objects.get().figures["states"]["marketing"]["opted_out"] == 1


def test_the_reconsent_funnel_follows_reminded_contacts_to_their_answer():
    policy = PolicyFactory(name="New rules", deadline=timezone.now() + timedelta(days=40))
    reminded = [make_contact("legacy") for _ in range(3)]
    make_contact("legacy")
    make_contact("expired")
    for contact in reminded:
        ReminderSent.objects.create(
            contact=contact,
            policy=policy,
            offset=30,
            purposes=["marketing"],
            sent_at=timezone.now(),
        )
    record(reminded[0], Action.GRANT)
    record(reminded[1], Action.WITHDRAW)

    funnel = dashboard_figures()["funnel"]

    assert funnel["policy"] == "New rules"
    assert funnel["legacy"] == 2
    assert funnel["reminded"] == 3
    assert funnel["reconsented"] == 1
    assert funnel["declined"] == 1
    assert funnel["expired"] == 1


def test_campaigns_whose_messages_were_answered_by_opt_outs_come_first():
    loud = Campaign.objects.create(
        name="Loud", kind=CampaignKind.MARKETING, purpose=Purpose.MARKETING, template_name="loud"
    )
    quiet = Campaign.objects.create(
        name="Quiet", kind=CampaignKind.MARKETING, purpose=Purpose.MARKETING, template_name="quiet"
    )
    for n, campaign in [(2, loud), (1, quiet)]:
        for i in range(n):
            contact = ContactFactory()
            wamid = f"wamid.{campaign.name}.{i}"
            Message.objects.create(
                campaign=campaign, contact=contact, status=MessageStatus.DELIVERED, wamid=wamid
            )
            record(contact, Action.WITHDRAW, evidence=Evidence(prompted_by_wamid=wamid))

    rows = dashboard_figures()["opt_out_campaigns"]

    assert [(r["name"], r["template"], r["opt_outs"]) for r in rows] == [
        ("Loud", "loud", 2),
        ("Quiet", "quiet", 1),
    ]


def test_work_waiting_counts_each_queue():
    OptOutReview.objects.create(
        contact=ContactFactory(), wamid="wamid.r1", text="please stop", received_at=timezone.now()
    )
    counts = {what: n for what, n, _ in work_waiting()}
    assert counts["free-text messages to review"] == 1
    assert counts["failed imports"] == 0


def test_the_dashboard_page_shows_cards_chart_funnel_campaigns_and_work(staff_client):
    PolicyFactory(name="New rules", deadline=timezone.now() + timedelta(days=20))
    make_contact("opted_in")
    campaign = Campaign.objects.create(
        name="Spring",
        kind=CampaignKind.MARKETING,
        purpose=Purpose.MARKETING,
        template_name="spring",
        status=CampaignStatus.SENDING,
        launched_at=timezone.now(),
    )
    Message.objects.create(campaign=campaign, contact=ContactFactory(), status=MessageStatus.SENT)

    response = staff_client.get("/admin/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Marketing consent" in page and "Service consent" in page
    assert "?marketing_consent=opted_in" in page
    assert 'class="chart"' in page
    assert "New rules" in page and "days left" in page
    assert "Spring" in page and "console-fill--sent" in page
    assert "Waiting for a person" in page


def test_the_dashboard_reads_a_constant_number_of_queries(
    staff_client, django_assert_max_num_queries
):
    refresh_dashboard_snapshot()
    staff_client.get("/admin/")
    with django_assert_max_num_queries(20) as few:
        staff_client.get("/admin/")
    for _ in range(30):
        make_contact("opted_in")
        Campaign.objects.create(
            name="c",
            kind=CampaignKind.MARKETING,
            purpose=Purpose.MARKETING,
            template_name="t",
            status=CampaignStatus.SENDING,
        )
    refresh_dashboard_snapshot()
    with django_assert_max_num_queries(len(few.captured_queries)):
        staff_client.get("/admin/")
