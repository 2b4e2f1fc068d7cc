"""The person's answer to our call permission request: the `calls` purpose of the ledger.

Meta delivers it as a message (`interactive.type == "call_permission_reply"`). An accept is
a grant dated by the message, for a time (`expiration_timestamp`) or for good
(`is_permanent`); a reject withdraws. A repeated delivery records nothing new.
"""

import logging
from datetime import datetime, timedelta

from consent.models import ConsentEvent, ConsentNotice
from consent.rules import Action, Purpose, Source
from consent.selectors import current_notice, notice_by_ref
from consent.services import Evidence, record_consent, record_opt_out
from contacts.models import Contact
from contacts.selectors import Identifiers
from contacts.services import resolve_or_create_contacts
from whatsapp.events import CallPermissionReply, InboundMessage
from whatsapp.handlers import on
from whatsapp.models import OutboundMessage

log = logging.getLogger(__name__)

# Meta: "Temporary permissions are granted for 7 calendar days"; the end we assume when an
# accept names neither an expiration nor permanence (never a permission without end).
TEMPORARY_PERMISSION = timedelta(days=7)


def _expires_at(event: InboundMessage, reply: CallPermissionReply) -> datetime | None:
    if reply.is_permanent:
        return None
    return reply.expires_at or event.timestamp + TEMPORARY_PERMISSION


def _evidence(event: InboundMessage, reply: CallPermissionReply) -> Evidence:
    return Evidence(
        wamid=event.wamid,
        prompted_by_wamid=event.context_wamid,
        note=f"call permission {reply.response} ({reply.response_source or 'no source'})",
        context={
            "call_permission": {
                "response": reply.response,
                "is_permanent": reply.is_permanent,
                "response_source": reply.response_source,
            }
        },
    )


def _wording(event: InboundMessage, contact: Contact) -> ConsentNotice | None:
    """The calls notice of our request this reply answers, else the current one."""
    asked = OutboundMessage.objects.filter(
        wamid=event.context_wamid or None, contact_id=contact.pk
    ).first()
    for ref in (asked.notice_refs or []) if asked else []:
        if ref.startswith(f"{Purpose.CALLS}/") and (notice := notice_by_ref(ref)):
            return notice
    return current_notice(Purpose.CALLS, contact.language or "en")


@on("message")
def answer_call_permission(event: InboundMessage) -> None:
    reply = event.call_permission
    if reply is None:
        return
    ids = Identifiers(
        wa_id=event.wa_id,
        whatsapp_user_id=event.user_id,
        parent_user_id=event.parent_user_id,
        username=event.username,
    )
    if not (ids.wa_id or ids.whatsapp_user_id or ids.parent_user_id):
        return
    senders = resolve_or_create_contacts(ids, name=event.profile_name)
    key = f"wa:{event.wamid}"
    if reply.response != "accept":
        # A reject, or an answer we do not know: the restrictive reading.
        record_opt_out(
            contacts=senders.contacts,
            purposes=[Purpose.CALLS],
            source=Source.WHATSAPP_PLATFORM,
            occurred_at=event.timestamp,
            evidence=_evidence(event, reply),
            idempotency_key=key,
        )
        return
    grant_key = f"{key}:{Purpose.CALLS}:grant"
    if ConsentEvent.objects.filter(idempotency_key=grant_key).exists():
        return
    notice = _wording(event, senders.primary)
    if notice is None:
        log.warning("call permission %s granted without a published calls notice", event.wamid)
        return
    record_consent(
        contact=senders.primary,
        purpose=Purpose.CALLS,
        action=Action.GRANT,
        source=Source.WHATSAPP_PLATFORM,
        notice=notice,
        occurred_at=event.timestamp,
        expires_at=_expires_at(event, reply),
        evidence=_evidence(event, reply),
        idempotency_key=grant_key,
    )


def may_withdraw_calls(message: InboundMessage) -> bool:
    """For the failed-item judge: a call permission answer other than accept withdraws."""
    return message.call_permission is not None and message.call_permission.response != "accept"
