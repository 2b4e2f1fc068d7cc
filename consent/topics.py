"""Writes of topics: the refinements of a purpose a person keeps or leaves."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from staff.audit import record_audit

from .models import Topic


@transaction.atomic
def retire_topic(*, topic: Topic, actor: Any = None) -> Topic:
    """No longer offered: kept, since the ledger names it; nothing more can be granted to it."""
    if Topic.objects.filter(pk=topic.pk, retired_at__isnull=True).update(retired_at=timezone.now()):
        topic.refresh_from_db()
        record_audit(
            actor=actor,
            action="retire_topic",
            obj=topic,
            before={"retired_at": None},
            after={"retired_at": topic.retired_at.isoformat() if topic.retired_at else None},
        )
    return topic
