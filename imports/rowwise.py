"""The row-by-row path: each row through the ORM and `record_consent`.

SQLite uses it (in short transactions, so beat and the worker keep writing
while a long import runs); the tests use it on PostgreSQL as the reference the
fast path must agree with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from consent.models import ConsentEvent, ConsentNotice
from consent.rules import Action, Source
from consent.services import Evidence, record_consent
from contacts.models import Contact, Tag

from .columns import ContactLine
from .planning import (
    PlanContext,
    contact_changes,
    event_context,
    import_key,
    load_snapshots,
    new_contact_values,
)
from .report import RowProblem


class RowRefused(Exception):
    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class RowOutcome:
    created: bool
    changed: bool
    events: list[ConsentEvent]


def import_line(
    line: ContactLine,
    contact_id: uuid.UUID | None,
    ctx: PlanContext,
    *,
    actor: AbstractBaseUser | None,
    notices: dict[int, ConsentNotice],
) -> RowOutcome:
    """One row: the contact created or completed, then each consent recorded (call in atomic)."""
    if contact_id is None:
        values = new_contact_values(line, ctx)
        values.pop("created_at"), values.pop("updated_at")
        contact = Contact(**values)
        contact.save(force_insert=True)
        created, changed, new_tags = True, True, list(line.tags)
    else:
        contact = Contact.objects.select_for_update().get(pk=contact_id)
        changes, problems = contact_changes(line, load_snapshots([contact_id])[contact_id])
        if problems:
            raise RowRefused(problems)
        for name, value in changes.values.items():
            setattr(contact, name, value)
        if changes.values:
            contact.save()
        created, changed, new_tags = False, bool(changes), changes.new_tags
    if new_tags:
        contact.tags.add(*(Tag.objects.get_or_create(name=name)[0] for name in new_tags))
    events = []
    for consent in line.consents:
        key = import_key(contact.pk, consent)
        if ConsentEvent.objects.filter(
            contact=contact, source=Source.IMPORT, context__import__key=key
        ).exists():
            continue
        events.append(
            record_consent(
                contact=contact,
                purpose=consent.purpose,
                action=consent.action,
                source=Source.IMPORT,
                notice=notices[consent.notice_id] if consent.notice_id else None,
                occurred_at=consent.occurred_at,
                expires_at=ctx.deadline if consent.action == Action.LEGACY else None,
                evidence=Evidence(
                    note=consent.note,
                    context=event_context(key, consent, ctx.file_name, line.row),
                ),
                actor=actor,
                keep_if_inapplicable=True,
            )
        )
    return RowOutcome(created, changed or bool(events), events)
