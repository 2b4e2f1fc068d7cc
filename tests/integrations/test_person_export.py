"""A person's own copy (GDPR art. 15): complete against the tables that refer to a person;
nothing personal once they are erased; audited."""

import json

import pytest
from django.apps import apps
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, Message, ReminderSent
from consent.services import Evidence
from contacts.models import Contact
from contacts.services import change_identifier, erase_person, set_tags
from conversation.models import OptOutReview
from groups.models import Group
from groups.services import invite_contact, respond_to_invitation
from integrations import services
from integrations.export import COVERED, LEFT_OUT, person_export
from staff.models import AuditEntry
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory, PolicyFactory

pytestmark = pytest.mark.django_db

PERSONAL = [
    "+447911123456",
    "447911123456",
    "Ada Lovelace",
    "crm-42",
    "Leeds",
    "203.0.113.9",
    "GB.1349",
    "Firefox",
]


def tables_about_a_person() -> set[str]:
    found = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if getattr(field, "related_model", None) is Contact or field.name == "contact_id":
                found.add(model._meta.label)
    return found | {"consent.ConsentEvidence"} - {"contacts.Contact"} | {"contacts.Contact"}


def test_every_table_about_a_person_is_in_the_copy_or_left_out_with_a_reason():
    assert tables_about_a_person() <= set(COVERED) | set(LEFT_OUT)
    assert not set(COVERED) & set(LEFT_OUT)


@pytest.fixture
def ada(marketing_notice):
    ada = ContactFactory(
        phone="+447911123456",
        wa_id="447911123456",
        name="Ada Lovelace",
        external_id="crm-42",
        attributes={"city": "Leeds"},
    )
    set_tags(ada, ["vip"])
    services.register_endpoint(url="https://hooks.example.com/in", events=["consent.changed"])
    record(
        ada,
        "grant",
        notice=marketing_notice,
        evidence=Evidence(ip="203.0.113.9", user_agent="Firefox", page_url="https://shop/x"),
    )
    change_identifier(
        contact=ada,
        field="whatsapp_user_id",
        new_value="GB.1349",
        source="user_id_update",
        occurred_at=timezone.now(),
    )
    campaign = Campaign.objects.create(
        name="Winter sale",
        kind=CampaignKind.MARKETING,
        purpose="marketing",
        template_name="winter_sale",
        template_language="en",
    )
    Message.objects.create(campaign=campaign, contact=ada)
    ReminderSent.objects.create(
        policy=PolicyFactory(), contact=ada, offset=7, purposes=["marketing"]
    )
    OptOutReview.objects.create(
        contact=ada, wamid="wamid.1", text="please stop Leeds", received_at=timezone.now()
    )
    group = Group.objects.create(name="VIP early access", purpose="marketing")
    invitation = invite_contact(group=group, contact=ada)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    return Contact.objects.get(pk=ada.pk)


def test_the_copy_of_a_contact_with_every_kind_of_data_is_complete(ada):
    copy = person_export(ada)

    assert copy["contact"]["phone"] == "+447911123456"
    assert copy["contact"]["tags"] == ["vip"]
    assert copy["contact"]["attributes"] == {"city": "Leeds"}
    for section in {path.split(".")[0].split("[")[0] for path in COVERED.values()}:
        assert copy[section], f"{section} is empty"
    (event,) = copy["consent"]["events"]
    assert event["notice"]["text"] and event["evidence"]["ip"] == "203.0.113.9"
    assert copy["consent"]["states"][0]["status"] == "opted_in"
    assert copy["messages"][0]["template"] == "winter_sale"
    assert copy["invitations"][0]["status"] == "accepted"
    assert copy["memberships"][0]["group"] == "VIP early access"
    told = [c for c in copy["changes"] if c["type"] == "consent.changed"][0]["told"]
    assert told[0]["endpoint"] == "https://hooks.example.com/in"
    assert copy["proof"]["events"]
    json.dumps(copy)  # all of it is JSON


def test_an_erased_contacts_copy_holds_no_personal_data(ada):
    erase_person(contact=ada, erased_by="test")
    ada.refresh_from_db()

    text = json.dumps(person_export(ada))

    assert [p for p in PERSONAL if p in text] == []


def test_the_api_export_needs_contacts_read_and_is_audited(ada):
    url = f"/api/v1/contacts/{ada.pk}/export/"
    assert client_with_key("consent:read").get(url).status_code == 403

    reader = client_with_key("contacts:read")
    body = reader.get(url).json()
    assert body["contact"]["name"] == "Ada Lovelace"
    assert body["evidence_withheld"] is True and body["proof"] is None
    assert body["consent"]["events"][0]["evidence"] is None
    assert AuditEntry.objects.filter(action="export_person_data", object_id=str(ada.pk)).exists()

    full = client_with_key("contacts:read", "consent:evidence").get(url).json()
    assert full["consent"]["events"][0]["evidence"]["ip"] == "203.0.113.9"
    assert "evidence_withheld" not in full

    missing = url.replace(str(ada.pk), "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    assert reader.get(missing).status_code == 404


def test_staff_download_the_copy_and_see_who_was_told_on_the_contact_page(admin_client, ada):
    page = admin_client.get(f"/admin/contacts/contact/{ada.pk}/change/")
    assert b"Told integrations" in page.content
    assert b"https://hooks.example.com/in" in page.content
    assert b"Their data (JSON)" in page.content

    download = admin_client.get(f"/admin/contacts/contact/{ada.pk}/their-data/")
    assert download.status_code == 200
    assert json.loads(download.content)["contact"]["external_id"] == "crm-42"
    assert "attachment" in download["Content-Disposition"]
