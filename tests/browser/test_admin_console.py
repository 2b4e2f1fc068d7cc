"""The admin as a consent console in real Chromium: the dashboard, a campaign sending, the
re-consent funnel, every admin list under axe-core, at 1366×900 and 390×844."""

import re
import threading
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from campaigns import tasks as campaign_tasks
from campaigns.models import Campaign, CampaignStatus, ReminderSent
from consent.rules import Action, Source
from contacts.models import Contact, Tag
from tests.browser.conftest import SCREENSHOTS, Phone
from tests.campaigns.conftest import make_contact
from tests.consent_helpers import record
from tests.factories import ContactFactory, PolicyFactory, TemplateFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")


class Console(Phone):
    """A signed-in staff browser window that checks axe-core and the page width."""

    def login(self, base: str, username: str = "staff", password: str = "staff-pw") -> None:
        self.base = base
        self.page.goto(f"{base}/admin/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(f"{base}/admin/")

    def shot(self, name: str) -> None:
        width = self.page.viewport_size["width"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)

    def serious_violations(self) -> list[dict]:
        # Evaluated through the DevTools protocol, so the page's CSP still holds.
        self.page.evaluate(f"() => {{ {self.axe}\n; window.__axe = axe; }}")
        return self.page.evaluate(
            """async () => {
                const r = await window.__axe.run(document, {
                    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
                });
                return r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.html).slice(0, 3),
                }));
            }"""
        )

    def check(self) -> None:
        """No serious axe-core violation, no sideways scrolling, no CSP refusal."""
        serious = [v for v in self.serious_violations() if v["impact"] in SERIOUS]
        assert serious == [], f"serious accessibility violations on {self.page.url}: {serious}"
        overflow = self.page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"{self.page.url} is {overflow}px wider than the window"
        assert self.csp_violations == [], (self.page.url, self.csp_violations[:2])


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-pw")


@pytest.fixture
def desk(chromium, axe_source, live_server, staff):
    context = chromium.new_context(viewport=DESK, locale="en-GB")
    console = Console(context, axe_source)
    console.login(live_server.url)
    yield console
    context.close()


@pytest.fixture
def handset(chromium, axe_source, live_server, staff):
    context = chromium.new_context(viewport=PHONE, is_mobile=True, locale="en-GB")
    console = Console(context, axe_source)
    console.login(live_server.url)
    yield console
    context.close()


@pytest.fixture
def consent_story():
    """A small shop's consent: some opted in by web form, a few out by keyword, legacy ones."""
    policy = PolicyFactory(name="New opt-in rules", deadline=timezone.now() + timedelta(days=40))
    for days_ago in range(0, 60, 3):
        record(
            ContactFactory(),
            Action.GRANT,
            source=Source.WEB_FORM,
            at=timezone.now() - timedelta(days=days_ago),
        )
    for _ in range(3):
        record(make_contact("opted_in"), Action.WITHDRAW, source=Source.WHATSAPP_KEYWORD)
    legacy = [make_contact("legacy") for _ in range(6)]
    for contact in legacy[:4]:
        ReminderSent.objects.create(
            contact=contact,
            policy=policy,
            offset=30,
            purposes=["marketing"],
            sent_at=timezone.now(),
        )
    record(legacy[0], Action.GRANT, source=Source.WHATSAPP_BUTTON)
    record(legacy[1], Action.WITHDRAW, source=Source.WHATSAPP_BUTTON)
    make_contact("expired")
    return policy


def test_the_dashboard_shows_consent_at_a_glance(desk, handset, consent_story):
    page = desk.page
    page.goto(f"{desk.base}/admin/")

    expect(page.get_by_role("heading", name="Marketing consent")).to_be_visible()
    opted_in = page.locator(".console-card--opted_in").first
    expect(opted_in).to_contain_text("Opted in")
    expect(opted_in).to_contain_text("7 days")
    expect(page.locator("canvas.chart")).to_be_visible()
    # Chart.js drew into the canvas (its size set by the library, not by an inline style).
    assert page.evaluate("() => !!Chart.getChart(document.querySelector('canvas.chart'))")
    expect(page.get_by_role("heading", name="Waiting for a person")).to_be_visible()
    desk.check()
    desk.shot("20-admin-dashboard")

    opted_in.click()
    expect(page).to_have_url(f"{desk.base}/admin/contacts/contact/?marketing_consent=opted_in")

    handset.page.goto(f"{handset.base}/admin/")
    expect(handset.page.get_by_role("heading", name="Marketing consent")).to_be_visible()
    handset.check()
    handset.shot("20-admin-dashboard")


def test_the_reconsent_funnel_counts_down_to_the_deadline(desk, handset, consent_story):
    page = desk.page
    page.goto(f"{desk.base}/admin/")

    funnel = page.locator(".console-funnel")
    expect(page.get_by_text("New opt-in rules")).to_be_visible()
    expect(page.locator(".console-deadline")).to_contain_text("days left")
    stages = funnel.locator(".console-funnel__stage")
    expect(stages).to_have_count(5)
    expect(stages.nth(0)).to_contain_text("Legacy, in the grace period")
    expect(stages.nth(0)).to_contain_text("4")
    expect(stages.nth(1)).to_contain_text("Reminded")
    expect(stages.nth(1)).to_contain_text("4")
    expect(stages.nth(2)).to_contain_text("1")
    expect(stages.nth(3)).to_contain_text("1")
    funnel.scroll_into_view_if_needed()
    desk.check()
    desk.shot("21-admin-reconsent-funnel")
    handset.page.goto(f"{handset.base}/admin/")
    handset.page.locator(".console-funnel").scroll_into_view_if_needed()
    handset.check()
    handset.shot("21-admin-reconsent-funnel")


def test_a_campaign_from_build_to_a_finished_progress_bar(desk, handset, monkeypatch):
    vip = Tag.objects.create(name="vip")
    for _ in range(12):
        make_contact("opted_in").tags.add(vip)
    make_contact("opted_out").tags.add(vip)
    TemplateFactory(
        name="spring_offer",
        language="en",
        category="MARKETING",
        components=[{"type": "BODY", "text": "Hi {{1}}, {{2}} off this spring."}],
        parameters=[{"name": "1", "example": ""}, {"name": "2", "example": ""}],
    )
    page = desk.page

    # Build it in the add form: a template from the registry, one box per placeholder.
    page.goto(f"{desk.base}/admin/campaigns/campaign/add/")
    page.locator("#id_name").fill("Spring offer")
    page.locator("#id_kind").select_option("marketing")
    page.locator("#id_purpose").select_option("marketing")
    page.locator("#id_template_name").select_option("spring_offer")
    page.locator("#id_template_language").select_option("en")
    page.get_by_label("Template parameter 1").fill("{name}")
    page.get_by_label("Template parameter 2").fill("15%")
    page.get_by_label("Opted in").check()
    desk.check()
    desk.shot("22-admin-campaign-build")
    page.get_by_role("button", name="Save and continue editing").click()
    campaign = Campaign.objects.get(name="Spring offer")
    assert campaign.body_params == ["{name}", "15%"]

    # Preview, then launch: a worker (here a thread taking the queued tasks in order, as
    # a Celery worker would) fans out and sends; the outbox delivers to the console backend.
    queue: list[tuple] = []
    monkeypatch.setattr(
        campaign_tasks.fan_out_campaign, "delay", lambda *a: queue.append(("fan_out", a))
    )
    monkeypatch.setattr(
        campaign_tasks.send_campaign_batch, "delay", lambda *a: queue.append(("batch", a))
    )
    page.goto(f"{desk.base}{reverse('admin:campaigns_campaign_preview', args=[campaign.pk])}")
    expect(page.locator("#eligible-count")).to_have_text("12")
    desk.check()
    page.get_by_role("button", name="Launch to 12 eligible contacts").click()
    progress = page.locator("[data-progress-url]")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("data-live", "true")
    desk.shot("23-admin-campaign-launched")
    assert [kind for kind, _ in queue] == ["fan_out"]

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
    # The page refreshes itself until the campaign is done.
    expect(progress).to_have_attribute("data-live", "false", timeout=30_000)
    expect(progress.locator('[data-role="status"]')).to_have_text("Done")
    expect(progress.locator('[data-role="percent"]')).to_have_text("100%")
    expect(progress.locator('.console-legend[data-status="sent"]')).to_contain_text("Sent: 12")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DONE
    desk.check()
    desk.shot("24-admin-campaign-done")

    page.goto(f"{desk.base}/admin/campaigns/campaign/")
    expect(page.locator("td.field-progress").first).to_contain_text("Sent: 12")
    desk.check()
    desk.shot("25-admin-campaign-list")
    handset.page.goto(f"{handset.base}/admin/campaigns/campaign/{campaign.pk}/change/")
    handset.check()
    handset.shot("24-admin-campaign-done")


def test_every_admin_list_and_add_page_passes_axe_and_fits_1366(desk, consent_story):
    page = desk.page
    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="staff")
    urls = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        if model_admin.has_add_permission(request):
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    failures = []
    for url in urls:
        page.goto(f"{desk.base}{url}")
        try:
            desk.check()
        except AssertionError as problem:
            failures.append(str(problem)[:600])
        desk.csp_violations.clear()
    print("\n\n".join(failures))  # the whole list, when it fails
    assert failures == []


def test_the_contact_page_puts_consent_and_actions_above_the_form(desk, handset):
    contact = make_contact("opted_in", name="Grace Hopper")
    record(contact, Action.GRANT, "service", source=Source.WEB_FORM)
    page = desk.page
    page.goto(f"{desk.base}/admin/contacts/contact/{contact.pk}/change/")

    # State per purpose and the timeline first, the edit form below.
    marketing = page.locator('.contact-states [data-purpose="marketing"]')
    expect(marketing).to_contain_text("Opted in")
    timeline = page.locator("#contact-timeline tbody tr")
    expect(timeline).to_have_count(2)
    expect(timeline.first).to_contain_text("#2")
    page.wait_for_load_state("load")
    consent_top = page.locator("#contact-consent-title").bounding_box()["y"]
    assert consent_top < page.locator("#contact_form").bounding_box()["y"]
    expect(page.locator("#preference-link")).to_have_value(re.compile(r"/preferences/"))
    desk.check()
    desk.shot("26-admin-contact-page")

    # Record an opt-out: purpose, reason, confirmation, then the browser asks once more.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Marketing", exact=True).check()
    page.get_by_label("Reason").fill("Said stop on the phone")
    page.get_by_label("The person asked to stop these messages").check()
    page.get_by_role("button", name="Record opt-out").click()
    expect(page.get_by_text("Opt-out of marketing recorded.")).to_be_visible()
    expect(marketing).to_contain_text("Opted out")
    expect(timeline.first).to_contain_text("Withdraw")
    expect(timeline.first).to_contain_text("Admin")

    # Pausing someone who opted out is refused, in words.
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_text("Not paused")).to_be_visible()
    desk.check()
    desk.shot("27-admin-contact-opted-out")

    handset.page.goto(f"{handset.base}/admin/contacts/contact/{contact.pk}/change/")
    handset.check()
    handset.shot("26-admin-contact-page")

    # Erase, confirmed twice (the box, then the browser's question).
    page.get_by_label("Erase this person's data").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Erase", exact=True).click()
    expect(page.get_by_text("Erased; the ledger is kept.")).to_be_visible()
    assert Contact.objects.get(pk=contact.pk).erased_at is not None
