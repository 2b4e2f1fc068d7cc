"""The admin's home page: consent at a glance, every figure exact from the tallies
triggers keep in the writer's transaction (no snapshot to wait for)."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
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
from console.models import AnswerTally, StateTally
from console.selectors import (
    cards,
    daily_answers,
    opt_out_campaigns,
    reconsent_funnel,
    state_tallies,
    tally_day,
    work_waiting,
)
from console.services import compact_state_tallies
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

    states = state_tallies()

    assert states["marketing"]["opted_in"].count == 2
    assert states["marketing"]["opted_out"].count == 1
    assert states["marketing"]["legacy"].count == 1
    assert states["marketing"]["none"].count == 1
    assert states["service"]["none"].count == 5


def test_counts_are_exact_the_moment_a_change_is_recorded():
    contact = make_contact("opted_in")
    assert state_tallies()["marketing"]["opted_in"].count == 1

    record(contact, Action.WITHDRAW, source=Source.ADMIN)

    states = state_tallies()
    assert states["marketing"]["opted_in"].count == 0
    assert states["marketing"]["opted_out"].count == 1


def test_a_deleted_contact_leaves_the_counts():
    # Only a contact with an empty ledger can be deleted.
    contact = ContactFactory()
    make_contact("opted_in")
    assert state_tallies()["marketing"]["none"].count == 1

    contact.delete()

    states = state_tallies()
    assert states["marketing"]["none"].count == 0
    assert states["marketing"]["opted_in"].count == 1


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

    daily = daily_answers(today=timezone.localdate())

    assert {(r["action"], r["source"], r["n"]) for r in daily} == {
        ("grant", "web_form", 1),
        ("withdraw", "whatsapp_keyword", 1),
    }
    assert {r["day"] for r in daily if r["action"] == "grant"} == {
        timezone.localdate(ten_days_ago).isoformat()
    }


def test_changes_over_7_and_30_days_are_the_net_changes_recorded_in_those_days():
    today = tally_day()
    opted_in = [make_contact("opted_in") for _ in range(3)]
    # As if two of them had opted in 10 and 40 days ago.
    StateTally.objects.filter(status="opted_in").delete()
    StateTally.objects.bulk_create(
        StateTally(purpose="marketing", status="opted_in", day=today - timedelta(days=d), delta=1)
        for d in (0, 10, 40)
    )
    record(opted_in[0], Action.WITHDRAW, source=Source.ADMIN)

    card = next(c for c in cards() if (c.purpose, c.status) == ("marketing", "opted_in"))

    assert (card.count, card.change_7, card.change_30) == (2, 0, 1)


def test_call_permission_cards_show_only_what_a_call_permission_can_be():
    shown = [c.status for c in cards() if c.purpose == "calls"]
    assert shown == ["opted_in", "opted_out", "expired", "none"]
    marketing = [c.status for c in cards() if c.purpose == "marketing"]
    assert marketing == ["opted_in", "legacy", "pending", "paused", "opted_out", "expired", "none"]


def test_folding_the_tallies_keeps_every_count_and_change():
    today = tally_day()
    for _ in range(3):
        record(make_contact("legacy"), Action.GRANT, source=Source.WEB_FORM)
    StateTally.objects.bulk_create(
        StateTally(purpose="marketing", status="opted_in", day=today - timedelta(days=d), delta=1)
        for d in (10, 40, 400)
    )
    before = state_tallies()

    rows = compact_state_tallies()

    assert state_tallies() == before
    assert rows < 10
    assert compact_state_tallies() == rows


def test_an_answer_back_dated_by_an_import_is_on_the_chart_the_moment_it_commits():
    record(
        ContactFactory(), Action.GRANT, source=Source.IMPORT, at=timezone.now() - timedelta(days=3)
    )

    daily = daily_answers(today=timezone.localdate())

    assert [(r["action"], r["source"], r["n"]) for r in daily] == [("grant", "import", 1)]


def test_folding_keeps_the_chart_the_campaigns_and_the_funnel():
    policy = PolicyFactory(deadline=timezone.now() + timedelta(days=40))
    for contact in [make_contact("legacy") for _ in range(3)]:
        remind(contact, policy)
        record(contact, Action.GRANT, source=Source.WEB_FORM)
    today = timezone.localdate()
    before = (daily_answers(today=today), opt_out_campaigns(today=today), reconsent_funnel())

    compact_state_tallies()

    assert (daily_answers(today=today), opt_out_campaigns(today=today), reconsent_funnel()) == (
        before
    )


def remind(contact, policy, *, sent=True):
    return ReminderSent.objects.create(
        contact=contact,
        policy=policy,
        offset=30,
        purposes=["marketing"],
        sent_at=timezone.now() if sent else None,
    )


def test_the_reconsent_funnel_follows_reminded_contacts_to_their_answer():
    policy = PolicyFactory(name="New rules", deadline=timezone.now() + timedelta(days=40))
    reminded = [make_contact("legacy") for _ in range(3)]
    make_contact("legacy")
    make_contact("expired")
    for contact in reminded:
        remind(contact, policy)
    record(reminded[0], Action.GRANT)
    record(reminded[1], Action.WITHDRAW)

    funnel = reconsent_funnel()

    assert funnel is not None
    assert funnel["policy"] == "New rules"
    assert funnel["reminded"] == 3
    assert funnel["reconsented"] == 1
    assert funnel["declined"] == 1


def test_a_reminder_counts_the_moment_it_is_marked_sent_not_when_it_is_queued():
    policy = PolicyFactory(deadline=timezone.now() + timedelta(days=40))
    reminder = remind(make_contact("legacy"), policy, sent=False)
    assert reconsent_funnel()["reminded"] == 0

    ReminderSent.objects.filter(pk=reminder.pk).update(sent_at=timezone.now())

    assert reconsent_funnel()["reminded"] == 1


def test_the_funnel_counts_a_reconsent_campaigns_request_like_a_reminder_and_a_person_once():
    policy = PolicyFactory(deadline=timezone.now() + timedelta(days=40))
    campaign = Campaign.objects.create(
        name="Ask again",
        kind=CampaignKind.RECONSENT,
        purpose=Purpose.MARKETING,
        status=CampaignStatus.SENDING,
        launched_at=timezone.now(),
    )
    asked_twice, asked_by_campaign, not_yet_sent = (make_contact("legacy") for _ in range(3))
    remind(asked_twice, policy)
    for contact in (asked_twice, asked_by_campaign, not_yet_sent):
        Message.objects.create(campaign=campaign, contact=contact, status=MessageStatus.QUEUED)
    Message.objects.filter(contact__in=[asked_twice, asked_by_campaign]).update(
        status=MessageStatus.SENT
    )
    Message.objects.filter(contact=asked_by_campaign).update(status=MessageStatus.DELIVERED)
    record(asked_by_campaign, Action.WITHDRAW)

    funnel = reconsent_funnel()

    assert (funnel["reminded"], funnel["reconsented"], funnel["declined"]) == (2, 0, 1)


def test_a_campaign_launched_before_the_policy_asked_nobody_under_it():
    campaign = Campaign.objects.create(
        name="Old ask",
        kind=CampaignKind.RECONSENT,
        purpose=Purpose.MARKETING,
        launched_at=timezone.now() - timedelta(days=1),
    )
    PolicyFactory(deadline=timezone.now() + timedelta(days=40))
    Message.objects.create(campaign=campaign, contact=make_contact("legacy"), status="sent")

    assert reconsent_funnel()["reminded"] == 0


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

    rows = opt_out_campaigns(today=timezone.localdate())

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
    with django_assert_max_num_queries(len(few.captured_queries)):
        staff_client.get("/admin/")


def test_a_recount_gives_the_figures_the_triggers_kept():
    policy = PolicyFactory(deadline=timezone.now() + timedelta(days=40))
    for contact in [make_contact("legacy") for _ in range(3)]:
        remind(contact, policy)
    record(make_contact("opted_in"), Action.WITHDRAW, source=Source.WHATSAPP_KEYWORD)
    today = timezone.localdate()
    kept = (state_tallies(), daily_answers(today=today), reconsent_funnel())

    call_command("recount_dashboard", stdout=io.StringIO())

    assert (state_tallies(), daily_answers(today=today), reconsent_funnel()) == kept


def test_folding_drops_answers_older_than_the_chart_and_keeps_the_rest_in_one_row_each():
    now = timezone.now()
    for days_ago in (1, 1, 200):
        record(
            ContactFactory(),
            Action.GRANT,
            source=Source.WEB_FORM,
            at=now - timedelta(days=days_ago),
        )

    compact_state_tallies()

    rows = list(AnswerTally.objects.values_list("delta", flat=True))
    assert rows == [2]
