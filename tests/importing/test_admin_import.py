"""The admin import: upload, the check with its report, confirm once, the import, the result."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from consent.models import ConsentEvent
from contacts.models import Contact
from imports.models import ContactImport

pytestmark = pytest.mark.django_db
IMPORT_URL = "/admin/imports/contactimport/upload/"
JOBS = "/admin/imports/contactimport/"
GOOD = (
    b"phone,name,tags,marketing_status,marketing_date,service_status\n"
    b"+447911123456,Ada,vip,legacy,2023-05-01,\n"
    b"+447911123457,Bob,,opted_out,,opted_out\n"
)
BAD = GOOD + b"12,Cy,,opted_in,,\n"


def report_url(job) -> str:
    return f"{JOBS}{job.pk}/report/"


def upload(client, content: bytes, name: str = "contacts.csv", **data):
    return client.post(IMPORT_URL, {"file": SimpleUploadedFile(name, content), **data})


@pytest.fixture
def checked(staff_client, policy, django_capture_on_commit_callbacks):
    def check(content: bytes = GOOD, name: str = "contacts.csv", **data) -> ContactImport:
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(staff_client, content, name, **data)
        job = ContactImport.objects.get()
        assert response.status_code == 302 and response.url == report_url(job)
        return job

    return check


def test_the_upload_page_lists_the_columns(staff_client):
    response = staff_client.get(IMPORT_URL)
    assert response.status_code == 200
    assert b"marketing_status" in response.content and b"attr:&lt;key&gt;" in response.content


def test_the_contacts_list_links_to_import_and_one_export(staff_client):
    page = staff_client.get("/admin/contacts/contact/").content.decode()
    assert IMPORT_URL in page and page.count("/admin/imports/exportjob/contacts/") == 1


def test_the_imports_list_offers_an_upload_as_a_button(staff_client):
    page = staff_client.get(JOBS).content.decode()
    assert f'<a href="{IMPORT_URL}"' in page and "Upload a file" in page
    assert "bg-primary-600" in page.split(f'<a href="{IMPORT_URL}"')[1].split(">")[0]


def test_a_checked_file_shows_what_would_happen_and_its_consent_columns(staff_client, checked):
    job = checked()

    job.refresh_from_db()
    assert job.stage == ContactImport.Stage.CHECKED and job.file
    assert not Contact.objects.exists()
    page = staff_client.get(report_url(job)).content.decode()
    assert "What the import will do" in page and "Import 2 rows" in page
    assert "marketing_status" in page and "opted_out" in page
    assert "legacy" in page and "2023-05-01" in page
    assert 'http-equiv="refresh"' not in page
    # Nothing rejected: no choice to make, no rejected rows to download.
    assert 'name="mode" value="all"' in page and "Download the rejected rows" not in page


def test_problems_are_shown_by_row_in_words_with_one_summary(staff_client, checked):
    job = checked(BAD)

    job.refresh_from_db()
    # Two rows can be imported: the file waits for a choice, with its rejected rows kept.
    assert job.stage == ContactImport.Stage.CHECKED and job.file and job.rejected_file
    assert job.check_report["rejected_rows"] == 1 and job.check_report["new_contacts"] == 2
    page = staff_client.get(report_url(job)).content.decode()
    assert "phone: 12: too short for a UK number" in page
    assert "marketing_status: &#x27;opted_in&#x27; cannot be imported" in page
    assert page.count("1 of 3 rows cannot be imported") == 1
    assert "All or nothing" in page and "Import the valid rows only" in page
    assert "Import 2 rows" in page and "Download the rejected rows (CSV)" in page


def test_all_or_nothing_imports_nothing_while_a_row_is_rejected(
    staff_client, checked, django_capture_on_commit_callbacks
):
    job = checked(BAD)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{JOBS}{job.pk}/confirm/", {"mode": "all"}, follow=True)

    assert "All or nothing: 1 row cannot be imported, so nothing was" in response.content.decode()
    job.refresh_from_db()
    assert job.stage == ContactImport.Stage.CHECKED and not Contact.objects.exists()


def test_the_valid_rows_only_are_imported_when_asked(
    staff_client, checked, django_capture_on_commit_callbacks
):
    job = checked(BAD)

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(f"{JOBS}{job.pk}/confirm/", {"mode": "valid"})

    job.refresh_from_db()
    assert job.stage == ContactImport.Stage.DONE and job.valid_rows_only
    assert sorted(Contact.objects.values_list("name", flat=True)) == ["Ada", "Bob"]
    assert job.result["rejected_rows"] == 1 and job.result["new_contacts"] == 2


def test_the_rejected_rows_download_as_csv_with_the_reason(staff_client, checked):
    job = checked(BAD)

    response = staff_client.get(f"{JOBS}{job.pk}/rejected/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == ('attachment; filename="contacts-rejected-rows.csv"')
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines() == [
        "phone,name,tags,marketing_status,marketing_date,service_status,problem",
        '12,Cy,,opted_in,,,"phone: 12: too short for a UK number; marketing_status: '
        "'opted_in' cannot be imported: use legacy or opted_out (an opt-in needs the "
        "person's own answer, recorded with the wording they saw)\"",
    ]


def test_a_file_without_rejected_rows_has_no_rejected_download(staff_client, checked):
    job = checked()
    assert staff_client.get(f"{JOBS}{job.pk}/rejected/").status_code == 404


def test_confirming_imports_in_the_background_once(
    staff_client, checked, django_capture_on_commit_callbacks
):
    job = checked()
    url = f"{JOBS}{job.pk}/confirm/"

    with django_capture_on_commit_callbacks(execute=True):
        first = staff_client.post(url)
    with django_capture_on_commit_callbacks(execute=True):
        second = staff_client.post(url, follow=True)

    assert first.status_code == 302
    assert b"confirmed already" in second.content
    job.refresh_from_db()
    assert job.stage == ContactImport.Stage.DONE and not job.file
    assert job.confirmed_by == staff_client.user
    assert Contact.objects.count() == 2 and ConsentEvent.objects.count() == 3
    assert ConsentEvent.objects.filter(actor=staff_client.user).count() == 3
    page = staff_client.get(report_url(job)).content.decode()
    assert "What was imported" in page and "New contacts that were added" in page


def test_a_job_in_progress_shows_a_refreshing_progress_bar(staff_client, checked):
    job = checked()
    ContactImport.objects.filter(pk=job.pk).update(
        stage=ContactImport.Stage.RUNNING, phase="writing", done=250, total=1000
    )
    page = staff_client.get(report_url(job)).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert '<progress id="import-progress" max="100" value="25">' in page
    assert "Writing: 250 of 1000 rows" in page


def test_the_confirm_url_takes_only_post(staff_client, checked):
    job = checked()
    assert staff_client.get(f"{JOBS}{job.pk}/confirm/").status_code == 405


def test_someone_without_the_import_permission_gets_403(db):
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(IMPORT_URL).status_code == 403


def test_marketing_staff_may_import(db, policy):
    user = get_user_model().objects.create_user("marketer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client = Client()
    client.force_login(user)
    assert client.get(IMPORT_URL).status_code == 200


def test_an_unknown_job_is_404(staff_client):
    unknown = "00000000-0000-0000-0000-000000000000"
    assert staff_client.get(f"{JOBS}{unknown}/report/").status_code == 404


def test_an_xlsx_upload_is_checked_like_a_csv(checked):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["phone", "marketing_status"])
    workbook.active.append([447911123456, "legacy"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    job = checked(buffer.getvalue(), name="contacts.xlsx")

    job.refresh_from_db()
    assert job.stage == ContactImport.Stage.CHECKED, job.check_report
    assert job.check_report["new_contacts"] == 1
