"""Writing the staff audit: every staff or API-key change, with its actor, in its transaction."""

from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import models, transaction

from .models import AuditEntry


def record_audit(
    *,
    actor: AbstractBaseUser | Any | None,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """The audit row for `action` on `obj`; `actor` is a user or an API key (with a prefix).

    Call it inside the change's transaction: a rolled-back change leaves no row,
    and a committed one always has its row.
    """
    entry = audit_entry(actor=actor, action=action, obj=obj, before=before, after=after)
    entry.save(force_insert=True)
    return entry


def audit_entry(
    *,
    actor: AbstractBaseUser | Any | None,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """`record_audit`'s row, not yet saved: for a caller that writes it with its change in
    one statement (record_consent). Inside the change's transaction, as record_audit."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_audit belongs inside the transaction of the change")
    # AUTH_USER_MODEL is auth.User, the project's only concrete AbstractBaseUser.
    user = cast("User | None", actor if isinstance(actor, AbstractBaseUser) else None)
    key = "" if user is not None or actor is None else str(getattr(actor, "prefix", ""))
    return AuditEntry(
        actor_user=user,
        actor_key=key,
        action=action,
        object_type=obj._meta.label,
        object_id=str(obj.pk),
        before=before,
        after=after,
    )
