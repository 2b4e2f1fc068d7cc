"""Each change other apps make becomes a `Change`, in the transaction that made it."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from campaigns.models import Campaign
from campaigns.signals import campaign_finished
from consent.models import ConsentEvent
from consent.signals import consent_imported, consent_recorded
from contacts.models import Contact, IdentityChange
from contacts.signals import contact_erased

from .imported import record_imported_changes
from .models import Change, ChangeType
from .services import record_change, record_change_unread

# Data of these changes names the person: emptied when the person is erased.
PERSONAL = {
    ChangeType.CONTACT_CREATED: ("phone", "wa_id", "whatsapp_user_id", "external_id"),
    ChangeType.IDENTITY_CHANGED: ("old_value", "new_value"),
}


@receiver(consent_recorded, dispatch_uid="integrations.consent_recorded")
def consent_changed(*, event: ConsentEvent, status_before: str, **kwargs: Any) -> None:
    record_change_unread(
        type=ChangeType.CONSENT_CHANGED,
        contact_id=event.contact_id,
        data={
            "purpose": event.purpose,
            "topic": getattr(event, "topic", None),
            "action": event.action,
            "status_before": str(status_before),
            "status_after": event.status_after,
            "applied": event.applied,
            "source": event.source,
            "event": str(event.pk),
            "occurred_at": event.occurred_at.isoformat(),
        },
        # record_consent sends this under the contact's lock.
        contact_locked=True,
    )


@receiver(post_save, sender=Contact, dispatch_uid="integrations.contact_created")
def contact_created(*, instance: Contact, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if not created or raw:
        return
    with transaction.atomic(savepoint=False):
        record_change(
            type=ChangeType.CONTACT_CREATED,
            contact_id=instance.pk,
            data={
                "phone": str(instance.phone) if instance.phone else None,
                "wa_id": instance.wa_id,
                "whatsapp_user_id": instance.whatsapp_user_id,
                "external_id": instance.external_id,
            },
        )


@receiver(post_save, sender=IdentityChange, dispatch_uid="integrations.identity_changed")
def identity_changed(
    *, instance: IdentityChange, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if not created or raw:
        return
    with transaction.atomic(savepoint=False):
        record_change(
            type=ChangeType.IDENTITY_CHANGED,
            contact_id=instance.contact_id,
            data={
                "kind": instance.kind,
                "old_value": instance.old_value or None,
                "new_value": instance.new_value or None,
                "source": instance.source,
                "occurred_at": instance.occurred_at.isoformat(),
            },
        )


@receiver(contact_erased, dispatch_uid="integrations.contact_erased")
def contact_was_erased(*, contact: Contact, **kwargs: Any) -> None:
    for change in Change.objects.filter(contact_id=contact.pk, type__in=list(PERSONAL)):
        change.data = {**change.data, **dict.fromkeys(PERSONAL[ChangeType(change.type)])}
        change.save(update_fields=["data"])
    record_change(type=ChangeType.CONTACT_ERASED, contact_id=contact.pk, data={})


@receiver(campaign_finished, dispatch_uid="integrations.campaign_finished")
def campaign_was_finished(*, campaign_id: Any, **kwargs: Any) -> None:
    campaign = Campaign.objects.get(pk=campaign_id)
    record_change(
        type=ChangeType.CAMPAIGN_FINISHED,
        data={
            "campaign": str(campaign.pk),
            "name": campaign.name,
            "status": campaign.status,
            "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
        },
    )


@receiver(consent_imported, dispatch_uid="integrations.consent_imported")
def imported(*, at: datetime, **kwargs: Any) -> None:
    record_imported_changes(at=at)
