"""Every change integrations are told about is written in the transaction that caused it,
numbered per contact."""

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignStatus
from campaigns.services import finish_campaign_if_done
from consent.rules import Purpose
from contacts.models import IdentityChange
from contacts.services import change_identifier, erase_contact, upsert_contact
from integrations.models import Change, ChangeType
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def changes_of(contact):
    return list(Change.objects.filter(contact_id=contact.pk).order_by("sequence"))


def test_recording_consent_records_a_consent_change_numbered_per_contact():
    ada = ContactFactory()

    granted = record(ada, "grant")
    withdrawn = record(ada, "withdraw")

    created, first, second = changes_of(ada)
    assert [c.type for c in (created, first, second)] == [
        ChangeType.CONTACT_CREATED,
        ChangeType.CONSENT_CHANGED,
        ChangeType.CONSENT_CHANGED,
    ]
    assert [c.sequence for c in (created, first, second)] == [1, 2, 3]
    assert first.data == {
        "purpose": "marketing",
        "topic": None,
        "action": "grant",
        "status_before": "none",
        "status_after": "opted_in",
        "applied": True,
        "source": "api",
        "event": str(granted.pk),
        "occurred_at": granted.occurred_at.isoformat(),
    }
    assert second.data["event"] == str(withdrawn.pk)
    assert (second.data["status_before"], second.data["status_after"]) == ("opted_in", "opted_out")


def test_another_contact_has_its_own_sequence():
    ada, bob = ContactFactory(), ContactFactory()
    record(ada, "grant")
    record(bob, "grant")
    assert [c.sequence for c in changes_of(bob)] == [1, 2]


def test_a_rolled_back_consent_leaves_no_change():
    ada = ContactFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        record(ada, "grant")
        raise RuntimeError("the caller's transaction fails after recording")
    assert [c.type for c in changes_of(ada)] == [ChangeType.CONTACT_CREATED]


def test_an_event_kept_as_evidence_is_a_change_with_applied_false():
    ada = ContactFactory()
    record(ada, "withdraw")
    record(ada, "grant", at=timezone.now() - timezone.timedelta(days=1))
    assert changes_of(ada)[-1].data["applied"] is False


def test_a_new_contact_over_the_api_service_is_a_contact_created_change():
    contact, created = upsert_contact(phone="+447911123456")
    assert created
    (change,) = changes_of(contact)
    assert change.type == ChangeType.CONTACT_CREATED
    assert change.data == {
        "phone": "+447911123456",
        "wa_id": "447911123456",
        "whatsapp_user_id": None,
        "external_id": None,
    }


def test_an_identity_change_is_recorded():
    ada = ContactFactory(phone="+447911123456", wa_id="447911123456")
    change_identifier(
        contact=ada,
        field="whatsapp_user_id",
        new_value="GB.1349",
        source="user_id_update",
        occurred_at=timezone.now(),
    )
    change = changes_of(ada)[-1]
    assert change.type == ChangeType.IDENTITY_CHANGED
    assert change.data["kind"] == IdentityChange.Kind.USER_ID
    assert change.data["new_value"] == "GB.1349"


def test_erasure_is_recorded_and_empties_the_personal_data_of_earlier_changes():
    ada = ContactFactory(phone="+447911123456", wa_id="447911123456", external_id="crm-7")
    record(ada, "grant")

    erase_contact(contact=ada, erased_by="test")

    created, consent, erased = changes_of(ada)
    assert erased.type == ChangeType.CONTACT_ERASED
    assert erased.sequence == 3
    assert created.data == {
        "phone": None,
        "wa_id": None,
        "whatsapp_user_id": None,
        "external_id": None,
    }
    assert "+447911123456" not in str(Change.objects.filter(contact_id=ada.pk).values("data"))
    assert consent.data["action"] == "grant"


def test_a_finished_campaign_is_recorded_without_a_contact():
    campaign = Campaign.objects.create(
        name="Winter sale",
        kind=CampaignKind.MARKETING,
        purpose=Purpose.MARKETING,
        template_name="winter_sale",
        template_language="en",
        status=CampaignStatus.SENDING,
        fanned_out_at=timezone.now(),
    )

    assert finish_campaign_if_done(campaign_id=campaign.pk)

    change = Change.objects.get(type=ChangeType.CAMPAIGN_FINISHED)
    assert change.contact_id is None and change.sequence is None
    assert change.data["campaign"] == str(campaign.pk)
    assert change.data["status"] == CampaignStatus.DONE


def test_the_payload_is_the_api_shape():
    ada = ContactFactory()
    change = changes_of(ada)[0]
    assert change.payload() == {
        "id": str(change.event_id),
        "type": "contact.created",
        "created_at": change.created_at.isoformat(),
        "contact": str(ada.pk),
        "sequence": 1,
        "data": change.data,
    }
