"""Imports start to finish, as a marketing user does them in Chromium: Imports → "Upload a
file", a file with bad rows, the report with one summary and every reason in words, the
rejected rows downloaded and read, then the valid rows only imported. At 1366×900 and at
390×844: the primary action is a drawn button and nothing runs off the side of a phone."""

import csv
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from consent.models import ReconsentPolicy
from contacts.models import Contact
from imports.models import ContactImport
from tests.browser.conftest import Phone
from tests.campaigns.conftest import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
HEADER = "phone,name,marketing_status,marketing_date"
GOOD = [f"+4479111{i:05d},Person {i},legacy,2023-05-01" for i in range(18)]
BAD = ["07700 900123,Drama Person,legacy,2023-05-01", "+44 20,Too Short,,"]


@pytest.fixture
def marketer(chromium, axe_source, live_server, settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    ReconsentPolicy.objects.create(
        name="Grace period", deadline=timezone.now() + timedelta(days=60), active=True
    )
    user = get_user_model().objects.create_user("maria", password="maria-pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    context = chromium.new_context(viewport=DESKTOP, accept_downloads=True)
    desk = Phone(context, axe_source)
    page = desk.page
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("maria-pw")
    page.get_by_role("button", name="Log in").click()
    yield desk
    context.close()


def background(locator) -> str:
    return locator.evaluate("(el) => getComputedStyle(el).backgroundColor")


def page_background(page) -> str:
    return page.evaluate("() => getComputedStyle(document.getElementById('main')).backgroundColor")


def assert_a_drawn_button(page, locator) -> None:
    expect(locator).to_be_visible()
    drawn = background(locator)
    assert drawn not in ("rgba(0, 0, 0, 0)", "transparent", page_background(page)), drawn
    assert drawn != page.evaluate("() => getComputedStyle(document.body).backgroundColor")


def assert_fits_a_phone(page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{page.url} runs off the side at 390 px: {widths}"


def both_sizes(desk: Phone, name: str) -> None:
    """Screenshots at 1366×900 and 390×844; at 390 px nothing runs off the side."""
    page = desk.page
    desk.screenshot(f"{name}-1366")
    page.set_viewport_size(PHONE)
    page.reload()
    assert_fits_a_phone(page)
    desk.screenshot(f"{name}-390")
    page.set_viewport_size(DESKTOP)
    page.reload()


def test_a_marketing_user_imports_the_valid_rows_and_downloads_the_rejected_ones(
    marketer, live_server, tmp_path
):
    page = marketer.page
    upload = tmp_path / "spring-list.csv"
    upload.write_text("\n".join([HEADER, *GOOD[:5], *BAD[:1], *GOOD[5:], *BAD[1:]]) + "\n")

    # Sidebar → Imports: the list offers "Upload a file" as the primary button.
    page.goto(f"{live_server.url}/admin/")
    # (The sidebar's links carry their icon's name: "upload_file Imports".)
    page.get_by_role("link", name="Imports").and_(
        page.locator("a[href$='/admin/imports/contactimport/']")
    ).first.click()
    expect(page).to_have_url(f"{live_server.url}/admin/imports/contactimport/")
    upload_button = page.get_by_role("link", name="Upload a file")
    assert_a_drawn_button(page, upload_button)
    both_sizes(marketer, "30-imports-list")
    page.get_by_role("link", name="Upload a file").click()

    # The upload page: a title, and the check as its primary button.
    expect(page.locator(".imports-title")).to_have_text("Upload a file of contacts")
    assert_a_drawn_button(page, page.get_by_role("button", name="Check the file"))
    both_sizes(marketer, "31-imports-upload")
    page.get_by_label("File:", exact=True).set_input_files(str(upload))
    page.get_by_role("button", name="Check the file").click()

    # The report: one summary, each refusal in words, the choice of how to import.
    expect(page.get_by_text("What the import will do")).to_be_visible()
    expect(page.get_by_text("2 of 20 rows cannot be imported")).to_have_count(1)
    rows = page.locator(".import-preview")
    expect(rows).to_contain_text(
        "phone: 07700 900123: this range is reserved for drama and never assigned"
    )
    expect(rows).to_contain_text("phone: +44 20: too short for a UK number")
    expect(page.get_by_label("All or nothing", exact=False)).to_be_checked()
    import_button = page.get_by_role("button", name="Import 18 rows")
    assert_a_drawn_button(page, import_button)
    both_sizes(marketer, "32-imports-report")

    # The rejected rows, downloaded and read: the original columns and why, in words.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    assert download.value.suggested_filename == "spring-list-rejected-rows.csv"
    with open(download.value.path(), encoding="utf-8", newline="") as handle:
        rejected = list(csv.reader(handle))
    assert rejected == [
        [*HEADER.split(","), "problem"],
        [
            "07700 900123",
            "Drama Person",
            "legacy",
            "2023-05-01",
            "phone: 07700 900123: this range is reserved for drama and never assigned",
        ],
        ["'+44 20", "Too Short", "", "", "phone: +44 20: too short for a UK number"],
    ]

    # The valid rows only: 18 contacts in, the 2 rejected left out.
    page.get_by_label("Import the valid rows only", exact=False).check()
    page.get_by_role("button", name="Import 18 rows").click()
    expect(page.get_by_text("What was imported")).to_be_visible(timeout=60_000)
    expect(page.locator(".import-stage")).to_contain_text("Imported")
    expect(page.locator(".import-stage")).to_contain_text("the valid rows only")
    both_sizes(marketer, "33-imports-result")

    job = ContactImport.objects.get()
    assert job.stage == ContactImport.Stage.DONE and job.valid_rows_only
    assert Contact.objects.count() == 18
    assert not Contact.objects.filter(name__in=["Drama Person", "Too Short"]).exists()
    assert marketer.csp_violations == []


def test_an_export_is_asked_for_watched_and_downloaded_on_a_drawn_page(
    marketer, live_server, settings, tmp_path
):
    settings.EXPORT_FILE_DIR = tmp_path / "exports"
    Contact.objects.create(phone="+447911123456", name="Ada", language="es")
    page = marketer.page

    # Contacts → the one Export button → the format chosen → the job's page → the file.
    page.goto(f"{live_server.url}/admin/contacts/contact/")
    page.get_by_role("link", name="Export 1 contact", exact=True).click()
    expect(page.locator(".imports-title")).to_have_text("Export 1 contact")
    assert_a_drawn_button(page, page.get_by_role("button", name="Export 1 contact"))
    both_sizes(marketer, "34-export-choice")
    page.get_by_label("CSV", exact=True).check()
    page.get_by_role("button", name="Export 1 contact").click()

    expect(page.get_by_text("Ready to download", exact=True)).to_be_visible()
    # The admin's one date format ("8 Dec 2026, 03:19"), not "08 Dec 2026 03:19".
    status = page.locator(".export-status")
    expect(status).to_contain_text(re.compile(r"asked for on [1-9]\d? \w{3} \d{4}, \d\d:\d\d"))
    download_button = page.get_by_role("link", name="Download contacts-")
    assert_a_drawn_button(page, download_button)
    both_sizes(marketer, "35-export-ready")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download contacts-").click()
    with open(download.value.path(), encoding="utf-8", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["Name"], row["Language"], row["Marketing consent"]) == (
        "Ada",
        "Spanish",
        "No consent",
    )
    assert marketer.csp_violations == []


def test_the_list_export_exports_what_the_filtered_searched_list_shows(
    marketer, live_server, settings, tmp_path
):
    settings.EXPORT_FILE_DIR = tmp_path / "exports"
    for name in ("Ana Ruiz", "Anders Berg", "Bo Anand"):
        make_contact("opted_in", name=name)
    make_contact("opted_out", name="Anita Out")
    make_contact("opted_in", name="Zed Other")
    page = marketer.page

    # The dashboard's "Opted in" card → the filtered list → a search → the list's Export.
    page.goto(f"{live_server.url}/admin/")
    page.locator(".console-card--opted_in a").first.click()
    expect(page).to_have_url(re.compile(r"marketing_consent=opted_in"))
    page.locator("#searchbar").fill("an")
    page.locator("#searchbar").press("Enter")
    expect(page).to_have_url(re.compile(r"q=an"))
    export = page.get_by_role("link", name="Export 3 contacts", exact=True)
    expect(export).to_be_visible()
    both_sizes(marketer, "36-list-export-button")

    page.get_by_role("link", name="Export 3 contacts", exact=True).click()
    expect(page.locator(".imports-title")).to_have_text("Export 3 contacts")
    expect(page.get_by_text("with its filters and search")).to_be_visible()
    page.get_by_label("CSV", exact=True).check()
    page.get_by_role("button", name="Export 3 contacts").click()

    expect(page.get_by_text("Ready to download", exact=True)).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download contacts-").click()
    with open(download.value.path(), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    shown = Contact.objects.filter(name__in=["Ana Ruiz", "Anders Berg", "Bo Anand"])
    assert sorted(r["Name"] for r in rows) == sorted(shown.values_list("name", flat=True))
    assert {r["Marketing consent"] for r in rows} == {"Opted in"}
    assert marketer.csp_violations == []
