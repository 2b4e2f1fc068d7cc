"""What the platform says about our business numbers (`phone_number_quality_update`).

Meta's shape (webhooks reference, "Updated: Nov 14, 2025"): entry.id is the WABA;
value carries display_phone_number, event (FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE,
THROUGHPUT_UPGRADE, ONBOARDING), current_limit / old_limit (being replaced by
max_daily_conversations_per_business). No phone_number_id: the number is found by its
display number (digits), within its WABA when we know it.
"""

import contextlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q

from .models import SendingNumber

logger = logging.getLogger(__name__)

_NOT_DIGITS = re.compile(r"\D")


def apply_number_update(*, payload: dict[str, Any]) -> int:
    """Record a number's quality event and messaging limit; returns the rows updated."""
    entry = (payload.get("entry") or [{}])[0]
    value = ((entry.get("changes") or [{}])[0]).get("value") or {}
    digits = _NOT_DIGITS.sub("", str(value.get("display_phone_number") or ""))
    if not digits:
        return 0
    fields: dict[str, Any] = {}
    if value.get("event"):
        fields["quality"] = str(value["event"]).upper()[:32]
    limit = value.get("max_daily_conversations_per_business") or value.get("current_limit")
    if limit:
        fields["messaging_limit_tier"] = str(limit).upper()[:32]
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        fields["platform_updated_at"] = datetime.fromtimestamp(int(entry.get("time")), tz=UTC)
    waba = str(entry.get("id") or "")
    numbers = SendingNumber.objects.filter(display_phone_number=digits).filter(
        Q(waba_id=waba) | Q(waba_id="")
    )
    updated = numbers.update(**fields) if fields else 0
    if not updated:
        logger.info("phone_number_quality_update for %s: no sending number of ours", digits)
    return updated
