"""A blocked person is never sent anything: the outbox asks just before every message.

Blocking itself is the contact's (`contacts.blocking`); eligibility answers `blocked`
for every purpose (`consent.selectors`). This gate also stops what was queued before
the block, whatever its purpose (replies and opt-in requests included).
"""

from contacts.models import Contact
from whatsapp.delivery import MESSAGE_KINDS, send_gate
from whatsapp.models import OutboundMessage

from .selectors import Reason


@send_gate
def blocked_gate(row: OutboundMessage) -> str | None:
    # A row with a purpose is answered `blocked` by the consent gate's own query
    # (`conversation.outreach.consent_allows`): the campaign hot path pays nothing more.
    if row.purpose or row.contact_id is None or row.kind not in MESSAGE_KINDS:
        return None
    # One look-up by primary key; a merged duplicate answers with its survivor too.
    found = (
        Contact.objects.filter(pk=row.contact_id)
        .values_list("blocked_at", "merged_into__blocked_at")
        .first()
    )
    if found and (found[0] or found[1]):
        return Reason.BLOCKED
    return None
