"""Staff settle a failed webhook item that holds someone's messages, after reading it.

An unreadable body, or an item that kept failing, holds every message to the people it
names (`services.settle_inbound_from`) until a person decides what it said: an opt-out
(recorded by the app that owns consent, in the same transaction as the settlement) or
none. Either way the item stops holding sends and is never processed again; its raw
body and payload stay exactly as they arrived.
"""

from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.utils import timezone

from staff.audit import record_audit

from .models import InboundEvent

Settlement = InboundEvent.Settlement


class NotSettleable(ValueError):
    """The item is not waiting for a person (processed, or settled already)."""


def settle_inbound_event(
    *,
    item: InboundEvent,
    settlement: str,
    reason: str,
    actor: AbstractBaseUser,
    details: dict[str, Any] | None = None,
) -> InboundEvent:
    """Mark a failed item settled by `actor`, with the decision and why; audited.

    Call it inside the transaction of what the decision records (an opt-out): the
    item is claimed with a conditional UPDATE first, so two staff deciding at once
    decide once and the second gets NotSettleable, with nothing recorded.
    `details` (who was opted out, of what) go into the audit row.
    """
    reason = reason.strip()
    if settlement not in Settlement.values:
        raise ValueError(f"not a settlement: {settlement!r}")
    if not reason:
        raise ValueError("say why: a settlement needs a reason")
    with transaction.atomic():
        now = timezone.now()
        claimed = InboundEvent.objects.filter(pk=item.pk, state=InboundEvent.State.FAILED).update(
            state=InboundEvent.State.SETTLED,
            settlement=settlement,
            settlement_reason=reason,
            # AUTH_USER_MODEL is auth.User, the project's only concrete AbstractBaseUser.
            settled_by=cast(User, actor),
            settled_at=now,
            retry_at=None,
        )
        if claimed != 1:
            raise NotSettleable(f"item {item.pk} is not waiting for a person")
        item.refresh_from_db()
        record_audit(
            actor=actor,
            action="settle_inbound_event",
            obj=item,
            before={"state": InboundEvent.State.FAILED.value},
            after={
                "state": item.state,
                "settlement": settlement,
                "reason": reason,
                **(details or {}),
            },
        )
    return item
