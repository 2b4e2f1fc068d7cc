# ruff: noqa: F811  (the fixtures come from test_admin_console, used as arguments here)
"""The screens where staff commit to something, in real Chromium at 1366×900 and 390×844:
what a person sees (styled primary buttons, padded tables, titles and breadcrumbs, nothing
wider than a phone), flows that finish, and axe-core with no serious or critical violation.
Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

import threading
from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from campaigns import tasks as campaign_tasks
from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Message,
    ReminderSent,
    ReminderStatus,
)
from consent.models import ConsentEvent
from consent.rules import Action, Source
from contacts.models import LikelyDuplicate
from groups.models import Group
from tests.browser.test_admin_console import (  # noqa: F401  (fixtures)
    consent_story,
    desk,
    handset,
    staff,
)
from tests.campaigns.conftest import make_contact
from tests.consent_helpers import notice_for, record
from tests.factories import ContactFactory, PolicyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# --- What a person sees ------------------------------------------------------------


CRUMBS = "#header-inner h1 > a, #header-inner h1 > span.truncate"


def expect_crumbs(console, trail: list[str]) -> None:
    """The header's trail, as read once the page has arrived: "Campaigns", "Spring", ..."""
    expect(console.page.locator(CRUMBS)).to_have_text(trail)


def assert_styled_button(console, name: str, *, exact: bool = False) -> None:
    """A button a person sees as one: filled, unlike the page behind it, with room inside."""
    button = (
        console.page.get_by_role("button", name=name, exact=exact)
        .or_(console.page.get_by_role("link", name=name, exact=exact))
        .first
    )
    expect(button).to_be_visible()
    console.page.wait_for_load_state("load")  # styles read as drawn, not before they arrive
    looks = button.evaluate(
        """el => {
            const s = getComputedStyle(el);
            const page = getComputedStyle(document.getElementById("main") || document.body);
            return {bg: s.backgroundColor, page: page.backgroundColor,
                    padding: parseFloat(s.paddingLeft), height: el.getBoundingClientRect().height};
        }"""
    )
    assert looks["bg"] != looks["page"], f"{name!r} has the page's background: {looks}"
    assert looks["bg"] not in ("rgba(0, 0, 0, 0)", "transparent"), (name, looks)
    assert looks["padding"] >= 8 and looks["height"] >= 32, (name, looks)


def assert_outlined_button(console, name: str) -> None:
    """A second action: a bordered button with room inside, not a bare link."""
    button = console.page.get_by_role("link", name=name).first
    console.page.wait_for_load_state("load")
    looks = button.evaluate(
        "el => { const s = getComputedStyle(el); return [parseFloat(s.borderTopWidth), "
        "parseFloat(s.paddingLeft), el.getBoundingClientRect().height]; }"
    )
    assert looks[0] >= 1 and looks[1] >= 8 and looks[2] >= 32, (name, looks)


def assert_padded_cells(console, selector: str = "table td") -> None:
    cell = console.page.locator(selector).first
    expect(cell).to_be_visible()
    console.page.wait_for_load_state("load")
    padding = cell.evaluate(
        "el => { const s = getComputedStyle(el); "
        "return [parseFloat(s.paddingLeft), parseFloat(s.paddingTop)]; }"
    )
    assert padding[0] >= 8 and padding[1] >= 4, f"cells without padding: {padding}"


def assert_fits(console) -> None:
    fits = console.page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert fits, f"{console.page.url} is wider than {console.page.viewport_size['width']} px"


def look(console, name: str) -> None:
    """axe-core, the width, the CSP; then a screenshot named for the page and the width."""
    console.check()
    assert_fits(console)
    console.shot(name)


# --- Campaign: preview, launch, a page that agrees with itself --------------------


def test_a_reconsent_campaign_from_preview_to_a_finished_consistent_page(
    desk, handset, monkeypatch
):
    PolicyFactory(name="New rules", deadline=timezone.now() + timedelta(days=40))
    notice_for("marketing")  # the request shows the published notice
    for _ in range(5):
        make_contact("legacy")
    make_contact("opted_out")
    campaign = Campaign.objects.create(
        name="Ask again",
        kind=CampaignKind.RECONSENT,
        purpose="marketing",
        audience_states=["legacy"],
    )
    page = desk.page

    # The draft: no template fields on a re-consent campaign; the main action is a button.
    page.goto(f"{desk.base}{reverse('admin:campaigns_campaign_change', args=[campaign.pk])}")
    expect(page.get_by_text("Template name")).to_have_count(0)
    expect(page.get_by_text("Template languages")).to_have_count(0)
    assert_styled_button(desk, "Preview and launch")
    expect_crumbs(desk, ["Campaigns", "Ask again"])
    look(desk, "30-campaign-draft")
    handset.page.goto(page.url)
    assert_styled_button(handset, "Preview and launch")
    look(handset, "30-campaign-draft")

    # The preview: a title, the trail back, the audience as a padded table, one primary button.
    page.get_by_role("link", name="Preview and launch").click()
    expect(page.get_by_role("heading", name="Preview and launch: Ask again")).to_be_visible()
    expect_crumbs(desk, ["Campaigns", "Ask again", "Preview and launch"])
    expect(page.locator("#eligible-count")).to_have_text("5")
    assert_padded_cells(desk)
    assert_styled_button(desk, "Launch to 5 eligible contacts")
    assert_outlined_button(desk, "Back to the campaign")
    look(desk, "31-campaign-preview")
    handset.page.goto(page.url)
    assert_styled_button(handset, "Launch to 5 eligible contacts")
    look(handset, "31-campaign-preview")

    queue: list[tuple] = []
    monkeypatch.setattr(
        campaign_tasks.fan_out_campaign, "delay", lambda *a: queue.append(("fan_out", a))
    )
    monkeypatch.setattr(
        campaign_tasks.send_campaign_batch, "delay", lambda *a: queue.append(("batch", a))
    )
    page.get_by_role("button", name="Launch to 5 eligible contacts").click()
    progress = page.locator("[data-panel-url]")
    expect(progress).to_have_attribute("data-live", "true")
    look(desk, "32-campaign-launched")
    handset.page.goto(page.url)
    look(handset, "32-campaign-launched")

    def work():
        try:
            while queue:
                kind, args = queue.pop(0)
                task = campaign_tasks.fan_out_campaign if kind == "fan_out" else None
                (task or campaign_tasks.send_campaign_batch)(*args)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=120)

    # Bar, counts and message table from one reading: all five, all sent, at every refresh.
    expect(progress).to_have_attribute("data-live", "false", timeout=30_000)
    expect(progress.locator('[data-role="status"]')).to_have_text("Done")
    expect(progress.locator('[data-role="done"]')).to_have_text("5")
    expect(progress.locator('[data-role="total"]')).to_have_text("5")
    expect(progress.locator('.console-legend[data-status="sent"]')).to_contain_text("Sent: 5")
    rows = progress.locator(".console-messages tr.data-row")
    expect(rows).to_have_count(5)
    for n in range(5):
        expect(rows.nth(n)).to_contain_text("Sent")
    assert Message.objects.filter(campaign=campaign).count() == 5
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DONE
    expect(page.get_by_text("Template languages")).to_have_count(0)
    # Nothing elsewhere on the page still says it is sending.
    expect(progress.locator('[data-role="finished"]')).not_to_have_text("not yet")
    expect(page.get_by_text("Launched", exact=True)).to_have_count(1)
    assert_padded_cells(desk, ".console-messages td")
    look(desk, "33-campaign-done")
    handset.page.goto(page.url)
    expect(handset.page.locator(".console-messages tr.data-row")).to_have_count(5)
    look(handset, "33-campaign-done")

    # The dashboard's funnel counts the campaign's requests as reminders, at once.
    page.goto(f"{desk.base}/admin/")
    reminded = page.locator(".console-funnel__stage").nth(1)
    expect(reminded).to_contain_text("Reminded")
    expect(reminded).to_contain_text("5")


# --- Invite: seven contacts, one summary warning ------------------------------------


def test_an_invite_to_seven_contacts_shows_one_summary_warning(desk, handset):
    for n in range(2):
        make_contact("opted_in", name=f"Invited {n}")
    for n in range(3):
        make_contact("opted_out", name=f"Out {n}")
    for n in range(2):
        ContactFactory(name=f"Never asked {n}")
    # One group per window: each invites the same seven from its own screen.
    groups = {
        desk: Group.objects.create(name="VIP early access", purpose="marketing"),
        handset: Group.objects.create(name="Tasting club", purpose="marketing"),
    }
    for console in (desk, handset):
        page, group = console.page, groups[console]
        page.goto(f"{console.base}/admin/contacts/contact/")
        page.locator("#action-toggle").check()
        page.locator("select[name=action]").select_option("invite_to_group")
        page.get_by_role("button", name="Run").click()

        expect(page.get_by_role("heading", name="Invite contacts to a group")).to_be_visible()
        expect_crumbs(console, ["Contacts", "Invite to a group"])
        page.get_by_label("Group").select_option(str(group.pk))
        page.get_by_role("button", name="Show who will be invited").click()
        summary = page.get_by_text("5 of 7 not invited: 3 opted out, 2 no consent")
        expect(summary).to_have_count(1)
        assert_padded_cells(console)
        assert_styled_button(console, "Invite 2 contacts")
        look(console, "34-invite-preview")

        page.get_by_role("button", name="Invite 2 contacts").click()
        expect(page.get_by_text(f"Invited 2 contacts to {group.name}.")).to_be_visible()
        expect(summary).to_have_count(1)
        expect(page.get_by_text("Skipped ")).to_have_count(0)
        look(console, "35-invite-done")

        page.get_by_role("link", name="see who and why").click()
        expect_crumbs(console, ["Contacts", "Not invited"])
        expect(page.locator("tr.data-row")).to_have_count(5)
        assert_padded_cells(console)
        look(console, "36-invite-not-invited")


# --- The contact page: actions where the eye lands; what staff typed stays ----------


def test_the_contact_page_actions_are_buttons_and_the_reason_stays_visible(desk, handset):
    contact = make_contact("opted_in", name="Lucía Pérez")
    page = desk.page
    page.goto(f"{desk.base}/admin/contacts/contact/{contact.pk}/change/")

    expect_crumbs(desk, ["Contacts", str(contact)])
    for name in ("Record opt-out", "Pause", "Proof of consent (JSON)", "Erase"):
        assert_styled_button(desk, name, exact=True)
    look(desk, "37-contact-page")
    handset.page.goto(page.url)
    for name in ("Record opt-out", "Pause", "Erase"):
        assert_styled_button(handset, name, exact=True)
    look(handset, "37-contact-page")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Marketing", exact=True).check()
    page.get_by_label("Reason").fill("Asked in store to stop offers")
    page.get_by_label("The person asked to stop these messages").check()
    page.get_by_role("button", name="Record opt-out").click()
    timeline = page.locator("#contact-timeline tr.data-row")
    expect(timeline.first).to_contain_text("Asked in store to stop offers")
    expect(timeline.first).to_contain_text("staff")
    assert_padded_cells(desk, "#contact-timeline td")
    look(desk, "38-contact-opted-out")
    handset.page.goto(page.url)
    look(handset, "38-contact-opted-out")

    # The ledger's event page and the staff audit list show the same words.
    event = ConsentEvent.objects.get(contact=contact, action=Action.WITHDRAW)
    page.goto(f"{desk.base}{reverse('admin:consent_consentevent_change', args=[event.pk])}")
    expect(page.get_by_text("Asked in store to stop offers")).to_be_visible()
    expect(page.get_by_text("Context", exact=True)).to_have_count(0)
    look(desk, "39-ledger-event")
    handset.page.goto(page.url)
    look(handset, "39-ledger-event")
    page.goto(f"{desk.base}{reverse('admin:staff_auditentry_changelist')}")
    expect(page.get_by_text("reason: Asked in store to stop offers")).to_be_visible()
    look(desk, "40-staff-audit")
    handset.page.goto(page.url)
    look(handset, "40-staff-audit")

    # Erase: destructive, confirmed by a box and the browser's question.
    page.goto(f"{desk.base}/admin/contacts/contact/{contact.pk}/change/")
    erase = page.get_by_role("button", name="Erase", exact=True)

    def colour(name: str) -> str:
        button = page.get_by_role("button", name=name, exact=True)
        return button.evaluate("el => getComputedStyle(el).backgroundColor")

    # The theme's danger colour, as on "Record opt-out"; not the primary one of "Pause".
    assert colour("Erase") == colour("Record opt-out") != colour("Pause")
    page.get_by_label("Erase this person's data").check()
    page.once("dialog", lambda dialog: dialog.accept())
    erase.click()
    expect(page.get_by_text("Erased; the ledger is kept.")).to_be_visible()


# --- Merge, extend, search --------------------------------------------------------


def run_action(console, changelist: str, action: str) -> None:
    """Select every row of a list and run one of its actions, as staff do."""
    page = console.page
    page.goto(f"{console.base}{changelist}")
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option(action)
    page.get_by_role("button", name="Run").click()


def test_merge_and_extend_pages_have_titles_trails_and_buttons(desk, handset):
    first, second = sorted(
        (ContactFactory(name="Ada"), ContactFactory(name="Ada L.")), key=lambda c: str(c.pk)
    )
    LikelyDuplicate.objects.create(first=first, second=second, evidence={"why": "one delivery"})
    policy = PolicyFactory(name="New rules", deadline=timezone.now() + timedelta(days=40))

    for console in (desk, handset):
        run_action(console, "/admin/contacts/likelyduplicate/", "merge_pairs")
        heading = console.page.get_by_role("heading", name="Merge two records of one person")
        expect(heading).to_be_visible()
        expect(console.page.locator(CRUMBS).first).to_have_text("Likely duplicates")
        assert_styled_button(console, "Merge", exact=True)
        look(console, "41-merge")

        run_action(console, "/admin/consent/reconsentpolicy/", "extend_deadline")
        heading = console.page.get_by_role("heading", name=f"Extend the deadline of {policy}")
        expect(heading).to_be_visible()
        expect_crumbs(console, ["Re-consent policies", str(policy), "Extend the deadline"])
        assert_styled_button(console, "Extend", exact=True)
        look(console, "42-extend-deadline")


def test_search_finds_names_without_their_accents(desk):
    lucia = ContactFactory(name="Lucía Pérez")
    ContactFactory(name="Someone Else")
    page = desk.page
    page.goto(f"{desk.base}/admin/contacts/contact/")
    page.locator("#searchbar").fill("lucia perez")
    page.locator("#searchbar").press("Enter")
    expect(page.get_by_text(str(lucia))).to_be_visible()
    expect(page.get_by_text("Someone Else")).to_have_count(0)


# --- The dashboard is never behind -------------------------------------------------


def test_the_dashboard_shows_an_opt_out_recorded_one_second_earlier(desk, handset):
    for _ in range(3):
        make_contact("opted_in")
    contact = make_contact("opted_in")
    page = desk.page
    page.goto(f"{desk.base}/admin/")
    opted_out = page.locator(".console-card--opted_out").first
    expect(opted_out.locator(".console-card__count")).to_have_text("0")

    record(contact, Action.WITHDRAW, source=Source.WHATSAPP_KEYWORD)
    page.wait_for_timeout(1000)
    page.reload()

    expect(opted_out.locator(".console-card__count")).to_have_text("1")
    expect(opted_out).to_contain_text("7 days: +1 · 30 days: +1")
    expect(page.locator(".console-card--opted_in .console-card__count").first).to_have_text("3")
    expect(page.get_by_text("1 opt-out ")).to_be_visible()
    # Chart.js counts up from zero: the y axis starts at 0, opt-outs on the same scale.
    scale = page.evaluate(
        "() => { const c = Chart.getChart(document.querySelector('canvas.chart')); "
        "return [c.scales.y.min, c.data.datasets.every(d => d.data.every(v => v >= 0))]; }"
    )
    assert scale == [0, True]
    look(desk, "43-dashboard")
    handset.page.goto(f"{handset.base}/admin/")
    look(handset, "43-dashboard")


def test_the_funnel_shows_a_reminder_sent_one_second_earlier(desk, handset):
    policy = PolicyFactory(name="New opt-in rules", deadline=timezone.now() + timedelta(days=40))
    legacy = [make_contact("legacy") for _ in range(3)]
    reminders = [
        ReminderSent.objects.create(
            contact=contact, policy=policy, offset=30, purposes=["marketing"]
        )
        for contact in legacy
    ]
    page = desk.page
    page.goto(f"{desk.base}/admin/")
    stages = page.locator(".console-funnel__stage")
    expect(stages.nth(1)).to_contain_text("Reminded")
    expect(stages.nth(1).locator(".console-funnel__n")).to_have_text("0")

    # The outbox reports the first reminder sent; its contact then opts in with the button.
    ReminderSent.objects.filter(pk=reminders[0].pk).update(
        status=ReminderStatus.SENT, sent_at=timezone.now()
    )
    record(legacy[0], Action.GRANT, source=Source.WHATSAPP_BUTTON)
    page.wait_for_timeout(1000)
    page.reload()

    expect(stages.nth(0).locator(".console-funnel__n")).to_have_text("2")
    expect(stages.nth(1).locator(".console-funnel__n")).to_have_text("1")
    expect(stages.nth(2)).to_contain_text("Re-consented after a reminder")
    expect(stages.nth(2).locator(".console-funnel__n")).to_have_text("1")
    expect(stages.nth(3).locator(".console-funnel__n")).to_have_text("0")
    look(desk, "44-dashboard-funnel")
    handset.page.goto(f"{handset.base}/admin/")
    look(handset, "44-dashboard-funnel")


# --- Every page: axe-core, change pages included; every list fits a phone ---------


def test_every_change_page_passes_axe_and_every_list_fits_a_phone(desk, handset, consent_story):
    Campaign.objects.create(
        name="Spring", kind=CampaignKind.MARKETING, purpose="marketing", template_name="spring"
    )
    Group.objects.create(name="VIP", purpose="marketing")
    failures = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        handset.page.goto(f"{handset.base}{changelist}")
        try:
            handset.check()
            assert_fits(handset)
        except AssertionError as problem:
            failures.append(str(problem)[:600])
        handset.csp_violations.clear()
        obj = model_admin.get_queryset(desk_request(desk)).first()
        if obj is None:
            continue
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        desk.page.goto(f"{desk.base}{change}")
        try:
            desk.check()
        except AssertionError as problem:
            failures.append(str(problem)[:600])
        desk.csp_violations.clear()
    print("\n\n".join(failures))
    assert failures == []


def desk_request(desk):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="staff")
    return request
