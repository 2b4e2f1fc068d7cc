"""A person's own copy (GDPR art. 15): everything we hold about one contact, as JSON.

`COVERED` names every table that refers to a contact and where its rows appear in the
copy; `LEFT_OUT` names the rest, each with why. A test holds both against the models, so a
new table about people cannot be forgotten here. Erased data is not resurrected: the copy
reads what is stored, and erasure has emptied it.
"""

from datetime import datetime
from typing import Any

from django.utils import timezone

from campaigns.models import Message, ReminderSent
from consent.models import ConsentEvent, ConsentState, TopicState
from consent.proof import proof_bundle
from contacts.models import Contact, IdentityChange
from conversation.models import OptOutReview
from groups.models import GroupInvitation, GroupMembership

from .models import Change, Delivery

FORMAT = "consent-crm-person-export/1"

COVERED = {
    "contacts.Contact": "contact",
    "contacts.IdentityChange": "identity_changes",
    "consent.ConsentEvent": "consent.events",
    "consent.ConsentEvidence": "consent.events[].evidence",
    "consent.ConsentState": "consent.states",
    "consent.TopicState": "consent.topics",
    "conversation.OptOutReview": "opt_out_reviews",
    "campaigns.Message": "messages",
    "campaigns.ReminderSent": "reminders",
    "groups.GroupInvitation": "invitations",
    "groups.GroupMembership": "memberships",
    "integrations.Change": "changes",
    "integrations.Delivery": "changes[].told",
}
LEFT_OUT = {
    "contacts.Erasure": "the record that we erased them: no data of theirs",
    "contacts.Suppression": "keyed hashes that keep an erased number opted out: not readable",
    "contacts.LikelyDuplicate": "names another contact: someone else's data",
    "consent.SealedHead": "a hash of their ledger's head: in the proof bundle's seal",
    "whatsapp.OutboundMessage": "integrations does not read whatsapp (the apps table); "
    "campaign messages are under messages",
    "whatsapp.InboundEvent": "integrations does not read whatsapp (the apps table)",
    "console.ReconsentAsked": "the dashboard's count of who was asked to consent again: the "
    "reminders and campaign messages it counts are under reminders and messages",
}


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def person_export(contact: Contact) -> dict[str, Any]:
    erased = contact.erased_at is not None
    return {
        "format": FORMAT,
        "generated_at": _at(timezone.now()),
        "contact": _contact(contact),
        "consent": {
            "states": _states(contact),
            "topics": _topic_states(contact),
            "events": [_event(e) for e in _events(contact)],
        },
        "identity_changes": _identity_changes(contact, erased=erased),
        "imports": _imports(contact),
        "messages": _messages(contact),
        "reminders": _reminders(contact),
        "invitations": _invitations(contact),
        "memberships": _memberships(contact),
        "opt_out_reviews": _opt_out_reviews(contact, erased=erased),
        "changes": _changes(contact),
        "proof": proof_bundle(contact),
    }


def _states(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "purpose": s.purpose,
            "status": s.status,
            "since": _at(s.since),
            "source": s.source,
            "notice": s.notice.ref if s.notice else None,
            "expires_at": _at(s.expires_at),
            "paused_until": _at(s.paused_until),
        }
        for s in ConsentState.objects.filter(contact=contact)
        .select_related("notice")
        .order_by("purpose")
    ]


def _topic_states(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "purpose": s.topic.purpose,
            "topic": s.topic.key,
            "status": s.status,
            "since": _at(s.since),
            "source": s.source,
            "notice": s.notice.ref if s.notice else None,
        }
        for s in TopicState.objects.filter(contact=contact)
        .select_related("topic", "notice__topic")
        .order_by("topic__purpose", "topic__key")
    ]


def _identity_changes(contact: Contact, *, erased: bool) -> list[dict[str, Any]]:
    return [
        {
            "kind": c.kind,
            # Erasure does not reach the identity history: its values are not shown again.
            "old_value": None if erased else c.old_value,
            "new_value": None if erased else c.new_value,
            "source": c.source,
            "occurred_at": _at(c.occurred_at),
        }
        for c in IdentityChange.objects.filter(contact=contact).order_by("recorded_at")
    ]


def _messages(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "campaign": m.campaign.name,
            "template": m.campaign.template_name,
            "language": m.campaign.template_language,
            "status": m.status,
            "created_at": _at(m.created_at),
            "sent_at": _at(m.sent_at),
            "delivered_at": _at(m.delivered_at),
            "read_at": _at(m.read_at),
            "failed_at": _at(m.failed_at),
            "skip_reason": m.skip_reason,
        }
        for m in Message.objects.filter(contact=contact)
        .select_related("campaign")
        .order_by("created_at")
    ]


def _reminders(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "offset_days": r.offset,
            "purposes": r.purposes,
            "status": r.status,
            "created_at": _at(r.created_at),
        }
        for r in ReminderSent.objects.filter(contact=contact).order_by("created_at")
    ]


def _invitations(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "group": i.group.name,
            "status": i.status,
            "created_at": _at(i.created_at),
            "expires_at": _at(i.expires_at),
            "sent_at": _at(i.sent_at),
            "responded_at": _at(i.responded_at),
            "answer_source": i.answer_source,
        }
        for i in GroupInvitation.objects.filter(contact=contact)
        .select_related("group")
        .order_by("created_at")
    ]


def _memberships(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "group": m.group.name,
            "joined_at": _at(m.joined_at),
            "left_at": _at(m.left_at),
            "left_source": m.left_source,
            "left_initiated_by": m.left_initiated_by,
        }
        for m in GroupMembership.objects.filter(contact=contact)
        .select_related("group")
        .order_by("joined_at")
    ]


def _opt_out_reviews(contact: Contact, *, erased: bool) -> list[dict[str, Any]]:
    return [
        {
            # Erasure keeps the review (the decision) but not what they wrote.
            "text": None if erased else r.text,
            "received_at": _at(r.received_at),
            "decision": r.decision,
        }
        for r in OptOutReview.objects.filter(contact=contact).order_by("received_at")
    ]


def _contact(contact: Contact) -> dict[str, Any]:
    return {
        "id": str(contact.pk),
        "phone": str(contact.phone) if contact.phone else None,
        "wa_id": contact.wa_id,
        "whatsapp_user_id": contact.whatsapp_user_id,
        "parent_user_id": contact.parent_user_id,
        "username": contact.username,
        "name": contact.name,
        "language": contact.language,
        "external_id": contact.external_id,
        "tags": sorted(t.name for t in contact.tags.all()),
        "attributes": contact.attributes,
        "created_at": _at(contact.created_at),
        "updated_at": _at(contact.updated_at),
        "erased_at": _at(contact.erased_at),
    }


def _events(contact: Contact) -> list[ConsentEvent]:
    return list(
        ConsentEvent.objects.filter(contact=contact)
        .select_related("notice__topic", "personal_evidence")
        .order_by("seq")
    )


def _event(event: ConsentEvent) -> dict[str, Any]:
    evidence = getattr(event, "personal_evidence", None)
    return {
        "id": str(event.pk),
        "purpose": event.purpose,
        "topic": event.topic,
        "action": event.action,
        "source": event.source,
        "notice": ({"ref": event.notice.ref, "text": event.notice.text} if event.notice else None),
        "occurred_at": _at(event.occurred_at),
        "recorded_at": _at(event.recorded_at),
        "expires_at": _at(event.expires_at),
        "paused_until": _at(event.paused_until),
        "applied": event.applied,
        "status_after": event.status_after,
        "evidence": (
            {
                "ip": evidence.ip,
                "user_agent": evidence.user_agent,
                "page_url": evidence.page_url,
                "note": evidence.note,
            }
            if evidence is not None
            else None
        ),
    }


def _imports(contact: Contact) -> list[Any]:
    """The imports that wrote consent for them (each event of an import names its file)."""
    seen: list[Any] = []
    for context in ConsentEvent.objects.filter(contact=contact).values_list("context", flat=True):
        about = (context or {}).get("import")
        if about and about not in seen:
            seen.append(about)
    return seen


def _changes(contact: Contact) -> list[dict[str, Any]]:
    told: dict[int, list[dict[str, Any]]] = {}
    for delivery in Delivery.objects.filter(change__contact=contact).select_related("endpoint"):
        told.setdefault(delivery.change_id, []).append(
            {
                "endpoint": delivery.endpoint.url,
                "status": delivery.status,
                "delivered_at": _at(delivery.delivered_at),
            }
        )
    return [
        {**change.payload(), "told": told.get(change.pk, [])}
        for change in Change.objects.filter(contact=contact).order_by("sequence")
    ]
