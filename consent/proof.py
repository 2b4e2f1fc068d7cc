"""A contact's proof bundle: everything to check their consent offline, against a seal.

`scripts/verify_proof.py` checks it with the standard library alone; README
("The proof bundle") describes every field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from contacts.models import Contact

from .chain import PERSONAL_FIELDS, canonical_fields, check_chain, event_row, instant_text
from .models import ConsentEvent, ConsentNotice, LedgerSeal, SealedHead
from .seals import (
    inclusion,
    latest_seal,
    notice_inclusions,
    published_seal,
    seal_fields,
    seal_hash,
)

BUNDLE_FORMAT = "consent-proof-bundle/1"


def _evidence(event: ConsentEvent) -> dict[str, Any] | None:
    """The personal evidence with its salt (to re-derive the digest), or why it is gone."""
    personal = event._personal()
    if personal is None:
        return None
    if personal.erased_at is not None:
        return {
            "erased_at": instant_text(personal.erased_at),
            "statement": event.evidence_statement,
        }
    if event.form == 1:
        return None  # chained inline: it is in the event's fields
    return {"salt": personal.salt, **{name: getattr(personal, name) for name in PERSONAL_FIELDS}}


def _notice(notice: ConsentNotice) -> dict[str, Any]:
    return {
        "id": notice.pk,
        "ref": notice.ref,
        "purpose": notice.purpose,
        "language": notice.language,
        "version": notice.version,
        "published_at": instant_text(notice.published_at),
        "text": notice.text,
        "text_sha256": hashlib.sha256(notice.text.encode()).hexdigest(),
    }


def proof_bundle(contact: Contact) -> dict[str, Any]:
    events = list(
        ConsentEvent.objects.filter(contact=contact)
        .select_related("notice__topic", "personal_evidence")
        .order_by("seq")
    )
    seal = latest_seal()
    sealed_notices = notice_inclusions(seal) if seal else {}
    notices = {
        str(e.notice.pk): {**_notice(e.notice), "inclusion": sealed_notices.get(e.notice.pk)}
        for e in events
        if e.notice is not None
    }
    return {
        "format": BUNDLE_FORMAT,
        "generated_at": instant_text(timezone.now()),
        "contact": {"id": str(contact.pk), "erased_at": instant_text(contact.erased_at)},
        "notices": notices,
        "events": [
            {
                "fields": canonical_fields(event_row(event)),
                "hash": event.hash,
                "evidence": _evidence(event),
            }
            for event in events
        ],
        "chain": {
            "events": len(events),
            "head": {"seq": events[-1].seq, "hash": events[-1].hash} if events else None,
        },
        "seal": published_seal(seal) if seal else None,
        "inclusion": inclusion(seal, contact.pk) if seal else None,
    }


@dataclass(frozen=True)
class RecordVerification:
    """What a person's record page says about its integrity (the bundle checks it offline)."""

    chain_valid: bool
    events: int
    seal: LedgerSeal | None = None
    sealed_seq: int | None = None
    sealed_intact: bool = False
    seal_valid: bool = False

    @property
    def valid(self) -> bool:
        return self.chain_valid and (self.sealed_seq is None or self.sealed_intact)


def verify_record(contact: Contact) -> RecordVerification:
    """The chain walked now, and its head as the latest seal saw it, found unchanged.

    A few indexed reads, so a customer page can afford it; the Merkle path to the
    seal's root is the bundle's (scripts/verify_proof.py).
    """
    check = check_chain(contact.pk)
    seal = latest_seal()
    if seal is None:
        return RecordVerification(check.valid, check.events)
    head = (
        SealedHead.objects.filter(contact_id=contact.pk, seal__seq__lte=seal.seq)
        .order_by("-seq")
        .first()
    )
    if head is None:
        return RecordVerification(check.valid, check.events, seal)
    now = ConsentEvent.objects.filter(contact=contact, seq=head.seq).values_list("hash", flat=True)
    return RecordVerification(
        chain_valid=check.valid,
        events=check.events,
        seal=seal,
        sealed_seq=head.seq,
        sealed_intact=now.first() == head.hash,
        seal_valid=seal.hash == seal_hash(seal_fields(seal)),
    )
