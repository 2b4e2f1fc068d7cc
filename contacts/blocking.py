"""Staff block a person: nothing is ever sent to them, for any purpose, until unblocked.

Eligibility answers `blocked` for every purpose (`consent.selectors`), and the outbox's
send gate refuses every message to them (`consent.blocking`). Each block and unblock is
audited with the staff member who did it.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone

from staff.audit import record_audit

from .models import Contact
from .signals import contact_blocked, contact_unblocked


def block_contact(*, contact: Contact, actor: Any, reason: str = "") -> bool:
    """Block; False when they were blocked already (nothing changes, nothing audited)."""
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.blocked_at is not None:
            return False
        locked.blocked_at = timezone.now()
        locked.blocked_reason = reason.strip()[:500]
        locked.save(update_fields=["blocked_at", "blocked_reason"])
        record_audit(
            actor=actor,
            action="block_contact",
            obj=locked,
            before={"blocked": False},
            after={"blocked": True, "reason": locked.blocked_reason},
        )
        contact_blocked.send(sender=Contact, contact=locked, actor=actor)
    contact.blocked_at, contact.blocked_reason = locked.blocked_at, locked.blocked_reason
    return True


def unblock_contact(*, contact: Contact, actor: Any) -> bool:
    """Unblock; their consent decides again. False when they were not blocked."""
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.blocked_at is None:
            return False
        before = {"blocked": True, "since": locked.blocked_at.isoformat()}
        locked.blocked_at, locked.blocked_reason = None, ""
        locked.save(update_fields=["blocked_at", "blocked_reason"])
        record_audit(
            actor=actor,
            action="unblock_contact",
            obj=locked,
            before=before,
            after={"blocked": False},
        )
        contact_unblocked.send(sender=Contact, contact=locked, actor=actor)
    contact.blocked_at, contact.blocked_reason = None, ""
    return True
