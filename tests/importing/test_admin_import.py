"""The admin import: upload, the check with its report, confirm once, the import, the result."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from consent.importing.jobs import confirm_import
from consent.models import ConsentEvent, ContactImport
from contacts.models import Contact

pytestmark = pytest.mark.django_db
IMPORT_URL = "/admin/contacts/contact/import/"
GOOD = (
    b"phone,name,tags,marketing_status,marketing_date,service_status\n"
    b"+447911123456,Ada,vip,legacy,2023-05-01,\n"
    b"+447911123457,Bob,,opted_out,,opted_out\n"
)
BAD = GOOD + b"12,Cy,,opted_in,,\n"


def upload(client, content: bytes, name: str = "contacts.csv", **data):
    return client.post(IMPORT_URL, {"file": SimpleUploadedFile(name, content), **data})


@pytest.fixture
def checked(staff_client, policy, django_capture_on_commit_callbacks):
    def check(content: bytes = GOOD, name: str = "contacts.csv", **data) -> ContactImport:
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(staff_client, content, name, **data)
        job = ContactImport.objects.get()
        assert response.status_code == 302 and response.url == f"{IMPORT_URL}{job.pk}/"
        return job

    return check


def test_the_upload_page_lists_the_columns(staff_client):
    response = staff_client.get(IMPORT_URL)
    assert response.status_code == 200
    assert b"marketing_status" in response.content and b"attr:&lt;key&gt;" in response.content


def test_the_contacts_list_links_to_import_and_export(staff_client):
    page = staff_client.get("/admin/contacts/contact/").content.decode()
    assert IMPORT_URL in page and "/admin/contacts/contact/export/?format=xlsx" in page


def test_a_checked_file_shows_what_would_happen_and_its_consent_columns(staff_client, checked):
    job = checked()

    job.refresh_from_db()
    assert job.stage == ContactImport.Stage.CHECKED and job.file
    assert not Contact.objects.exists()
    page = staff_client.get(f"{IMPORT_URL}{job.pk}/").content.decode()
    assert "What the import will do" in page and "Import 2 rows" in page
    assert '<th scope="col">marketing_status</th>' in page and "<td>opted_out</td>" in page
    assert "<td>legacy</td>" in page and "<td>2023-05-01</td>" in page
    assert 'http-equiv="refresh"' not in page


def test_problems_are_shown_inline_by_row_and_nothing_can_be_confirmed(staff_client, checked):
    job = checked(BAD)

    job.refresh_from_db()
    assert job.stage == ContactImport.Stage.INVALID and not job.file
    page = staff_client.get(f"{IMPORT_URL}{job.pk}/").content.decode()
    assert "Row 4, <strong>phone</strong>: &#x27;12&#x27; is not a valid phone number" in page
    assert "Row 4, <strong>marketing_status</strong>" in page
    assert "import-row-problem" in page and "Import 3 rows" not in page
    assert not confirm_import(job=job, confirmed_by=job.uploaded_by)


def test_confirming_imports_in_the_background_once(
    staff_client, checked, django_capture_on_commit_callbacks
):
    job = checked()
    url = f"{IMPORT_URL}{job.pk}/confirm/"

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
    page = staff_client.get(f"{IMPORT_URL}{job.pk}/").content.decode()
    assert "What was imported" in page and "<td>2</td>" in page


def test_a_job_in_progress_shows_a_refreshing_progress_bar(staff_client, checked):
    job = checked()
    ContactImport.objects.filter(pk=job.pk).update(
        stage=ContactImport.Stage.RUNNING, phase="writing", done=250, total=1000
    )
    page = staff_client.get(f"{IMPORT_URL}{job.pk}/").content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert '<progress id="import-progress" max="100" value="25">' in page
    assert "Writing: 250 of 1000 rows" in page


def test_the_confirm_url_takes_only_post(staff_client, checked):
    job = checked()
    assert staff_client.get(f"{IMPORT_URL}{job.pk}/confirm/").status_code == 405


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
    assert staff_client.get(f"{IMPORT_URL}00000000-0000-0000-0000-000000000000/").status_code == 404


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
