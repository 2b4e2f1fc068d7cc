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
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_audit belongs inside the transaction of the change")
    # AUTH_USER_MODEL is auth.User, the project's only concrete AbstractBaseUser.
    user = cast("User | None", actor if isinstance(actor, AbstractBaseUser) else None)
    key = "" if user is not None or actor is None else str(getattr(actor, "prefix", ""))
    return AuditEntry.objects.create(
        actor_user=user,
        actor_key=key,
        action=action,
        object_type=obj._meta.label,
        object_id=str(obj.pk),
        before=before,
        after=after,
    )
