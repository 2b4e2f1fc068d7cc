"""Writes of the API's own records: each acts for one `actor` and audits itself."""

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from staff.audit import record_audit

from .models import ApiKey


def revoke_api_keys(*, keys: QuerySet[ApiKey], actor: Any) -> int:
    """Revoke those of `keys` still valid (for good: a revoked key is never valid again);
    each revocation audited. Returns how many were revoked now."""
    with transaction.atomic():
        valid = list(keys.filter(revoked=False).select_for_update())
        count = keys.filter(pk__in=[key.pk for key in valid]).update(revoked=True)
        for key in valid:
            record_audit(
                actor=actor,
                action="revoke_api_key",
                obj=key,
                before={"revoked": False},
                after={"revoked": True, "name": key.name},
            )
    return count
