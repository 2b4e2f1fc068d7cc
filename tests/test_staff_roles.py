"""Marketing and compliance staff are separate roles with separate powers."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from contacts.models import Contact
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:contacts_contact_changelist")


def staff(role: str) -> Client:
    user = get_user_model().objects.create_user(role.lower(), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def marketing() -> Client:
    return staff("Marketing")


@pytest.fixture
def compliance() -> Client:
    return staff("Compliance")


@pytest.fixture
def outsider() -> Client:
    user = get_user_model().objects.create_user("outsider", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def test_roles_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Marketing", "Compliance"}


def test_marketing_can_edit_contacts_but_not_erase_or_publish(marketing):
    contact = ContactFactory()
    page = marketing.get(CHANGELIST)
    assert page.status_code == 200
    assert b"erase_selected" not in page.content
    assert b"record_marketing_opt_out" in page.content

    marketing.post(CHANGELIST, {"action": "erase_selected", "_selected_action": [contact.pk]})

    assert Contact.objects.get(pk=contact.pk).erased_at is None
    notices = marketing.get(reverse("admin:consent_consentnotice_changelist"))
    assert b"publish_notices" not in notices.content


def test_compliance_can_erase_but_not_edit_contacts(compliance):
    contact = ContactFactory(name="Ada")
    record(contact, "withdraw")
    edit = compliance.post(
        reverse("admin:contacts_contact_change", args=[contact.pk]),
        {"phone": "+447911123456", "name": "Changed", "language": "en", "attributes": "{}"},
    )
    assert edit.status_code == 403

    compliance.post(CHANGELIST, {"action": "erase_selected", "_selected_action": [contact.pk]})

    erased = Contact.objects.get(pk=contact.pk)
    assert erased.erased_at is not None and erased.name == "" and erased.phone is None
    assert erased.consent_events.count() == 3  # the opt-out, and service and calls suppressed


def test_compliance_publishes_notices(compliance):
    draft = NoticeFactory(version=2, published_at=None)
    compliance.post(
        reverse("admin:consent_consentnotice_changelist"),
        {"action": "publish_notices", "_selected_action": [draft.pk]},
    )
    draft.refresh_from_db()
    assert draft.is_published


def test_staff_without_a_role_sees_nothing(outsider):
    assert outsider.get(CHANGELIST).status_code == 403
    assert outsider.get(reverse("admin:consent_consentevent_changelist")).status_code == 403


def test_marketing_exports_selected_contacts_with_formulae_escaped(
    marketing, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.EXPORT_FILE_DIR = tmp_path
    ContactFactory(name='=HYPERLINK("http://evil.example","click")', external_id="@SUM(A1)")
    ContactFactory(name="Plain Name", external_id="-2+3")

    with django_capture_on_commit_callbacks(execute=True):
        response = marketing.post(
            CHANGELIST,
            {
                "action": "export_selected",
                "_selected_action": list(Contact.objects.values_list("pk", flat=True)),
                "file_format": "csv",
                "style": "codes",
            },
        )
    download = marketing.get(response.url.replace("/progress/", "/download/"))
    csv = b"".join(download.streaming_content).decode()

    assert "'=HYPERLINK" in csv and "'@SUM(A1)" in csv and "'-2+3" in csv
    assert ",Plain Name," in csv
    assert ",+4479111" in csv  # the validated phone keeps its '+'
