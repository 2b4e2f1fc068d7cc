"""Daily seals: a Merkle root over every chain's head, each seal chained to the previous one.

A leaf is a chain head, `SHA-256(0x00 || "<contact id>:<last seq>:<last hash>")`,
leaves in contact-id order; the tree is RFC 6962's (Certificate Transparency):
an inner node is `SHA-256(0x01 || left || right)`, a tree of n leaves splits at
the largest power of two below n, and the empty tree is `SHA-256("")`. A seal's
own hash is SHA-256 over the canonical JSON of its fields (README), so the seals
form a chain like the ledger's events.

Sealing reads every head once through a server-side cursor and hashes in a tight
loop with a stack of at most log2(n) subtree roots; the heads that changed since
the previous seal are stored (`SealedHead`) by one INSERT … SELECT, so the checks
can name the contact whose chain was later deleted or truncated.

Form 2 (every seal made now) also stores the roots of its tree's blocks of
`BLOCK_LEAVES` leaves (`SealBlock`): an inclusion path then reads one block's heads
and the block roots, not every head. It also seals the notices: a Merkle root over
`SHA-256(0x00 || canonical {"id", "ref", "text_sha256"})` per notice in id order
(`SealedNotice` keeps each leaf), so a notice text changed later is detected. Form-1
seals stay as they were and are proven by reading every head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import sql
from .models import ConsentNotice, LedgerSeal, SealBlock, SealedHead, SealedNotice

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()
SEAL_FIELDS = ("seq", "sealed_on", "sealed_at", "chains", "events", "root", "prev_hash")
SEAL_FIELDS_FORM_2 = (*SEAL_FIELDS, "form", "notices", "notices_root")
CURRENT_SEAL_FORM = 2
# A power of two, so each block is a subtree of RFC 6962's tree. 1,024 leaves: a proof
# reads at most 1,024 heads and chains/1,024 block roots (about a thousand at 1 M).
BLOCK_LEAVES = 1024

Head = sql.Head


# --- The tree ------------------------------------------------------------------------


def leaf_hash(contact_id: str, seq: int, head_hash: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{contact_id}:{seq}:{head_hash}".encode()).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Iterable[bytes]) -> tuple[str, int]:
    """RFC 6962 root of the leaf hashes, streamed; (hex root, number of leaves)."""
    sizes: list[int] = []
    hashes: list[bytes] = []
    count = 0
    sha256 = hashlib.sha256
    for leaf in leaves:
        count += 1
        size = 1
        while sizes and sizes[-1] == size:
            sizes.pop()
            leaf = sha256(b"\x01" + hashes.pop() + leaf).digest()
            size *= 2
        sizes.append(size)
        hashes.append(leaf)
    if not hashes:
        return EMPTY_ROOT, 0
    root = hashes.pop()
    while hashes:
        root = _node(hashes.pop(), root)
    return root.hex(), count


def _subtree(leaves: list[bytes], start: int, end: int) -> bytes:
    if end - start == 1:
        return leaves[start]
    split = _split(end - start)
    return _node(_subtree(leaves, start, start + split), _subtree(leaves, start + split, end))


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_path(leaves: list[bytes], index: int) -> list[str]:
    """RFC 6962 audit path of leaf `index` (hex, leaf's neighbour first)."""
    path: list[bytes] = []
    start, end = 0, len(leaves)
    while end - start > 1:
        split = _split(end - start)
        if index < start + split:
            path.append(_subtree(leaves, start + split, end))
            end = start + split
        else:
            path.append(_subtree(leaves, start, start + split))
            start += split
    return [h.hex() for h in reversed(path)]


def root_from_path(leaf: bytes, index: int, size: int, path: list[str]) -> str | None:
    """The root an inclusion path leads to (RFC 9162 §2.1.3.2), or None if it cannot."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for hex_hash in path:
        p = bytes.fromhex(hex_hash)
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r.hex() if sn == 0 else None


# --- A seal's own hash -------------------------------------------------------------------


def seal_fields(seal: LedgerSeal) -> dict[str, Any]:
    fields = {
        "seq": seal.seq,
        "sealed_on": seal.sealed_on.isoformat(),
        "sealed_at": seal.sealed_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "chains": seal.chains,
        "events": seal.events,
        "root": seal.root,
        "prev_hash": seal.prev_hash,
    }
    if seal.form >= 2:
        fields.update(form=seal.form, notices=seal.notices, notices_root=seal.notices_root)
    return fields


def seal_hash(fields: dict[str, Any]) -> str:
    names = SEAL_FIELDS if fields.get("form", 1) == 1 else SEAL_FIELDS_FORM_2
    body = json.dumps(
        {name: fields[name] for name in names},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def published_seal(seal: LedgerSeal) -> dict[str, Any]:
    """What a business publishes: the fields, the hash, and how to read them."""
    return {
        **seal_fields(seal),
        "hash": seal.hash,
        "algorithm": "sha256; RFC 6962 Merkle tree over chain heads"
        + ("" if seal.form == 1 else ", another over notices")
        + "; see README",
    }


# --- Reading heads -----------------------------------------------------------------------


def sealed_heads(seal: LedgerSeal) -> Iterator[Head]:
    return sql.sealed_heads(seal.pk)


def _leaves(heads: Iterable[Head], totals: list[int]) -> Iterator[bytes]:
    sha256 = hashlib.sha256
    events = 0
    for contact_id, seq, head_hash in heads:
        events += seq
        yield sha256(b"\x00" + f"{contact_id}:{seq}:{head_hash}".encode()).digest()
    totals.append(events)


def root_of(heads: Iterable[Head]) -> tuple[str, int, int]:
    """(root, chains, events) of heads given in contact-id order."""
    totals: list[int] = []
    root, chains = merkle_root(_leaves(heads, totals))
    return root, chains, totals[0]


# --- Sealing -----------------------------------------------------------------------------


def seal_ledger(*, on: date | None = None) -> LedgerSeal:
    """Seal the ledger as it stands now, once per day (a second call returns that day's seal)."""
    on = on or timezone.now().date()
    existing = LedgerSeal.objects.filter(sealed_on=on).first()
    if existing:
        return existing
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql" and outermost:
                # One snapshot for the root and the stored heads, whatever commits meanwhile.
                sql.read_one_snapshot()
            return _seal(on)
    except IntegrityError:
        # Another run sealed the same day first: the database refused the second.
        found = LedgerSeal.objects.filter(sealed_on=on).first()
        if found is None:
            raise
        return found


def _seal(on: date) -> LedgerSeal:
    previous = LedgerSeal.objects.order_by("-seq").first()
    blocks = list(_blocks(sql.ledger_heads()))
    events = sum(count for _, count in blocks)
    notices = notice_leaves()
    notices_root, _ = merkle_root(notices.values())
    seal = LedgerSeal(
        seq=previous.seq + 1 if previous else 1,
        sealed_on=on,
        sealed_at=timezone.now(),
        chains=sum(block.leaves for block, _ in blocks),
        events=events,
        root=merkle_root(bytes.fromhex(block.root) for block, _ in blocks)[0],
        prev_hash=previous.hash if previous else None,
        form=CURRENT_SEAL_FORM,
        notices=len(notices),
        notices_root=notices_root,
    )
    seal.hash = seal_hash(seal_fields(seal))
    seal.save()
    sql.store_changed_heads(seal.pk, first=previous is None)
    for block, _ in blocks:
        block.seal = seal
    SealBlock.objects.bulk_create([block for block, _ in blocks], batch_size=1000)
    SealedNotice.objects.bulk_create(
        SealedNotice(seal=seal, notice_id=pk, leaf=leaf.hex()) for pk, leaf in notices.items()
    )
    return seal


@dataclass
class _Block:
    first: str
    leaves: list[bytes] = field(default_factory=list)
    last: str = ""
    events: int = 0


def _blocks(heads: Iterable[Head], size: int | None = None) -> Iterator[tuple[SealBlock, int]]:
    """The heads (in contact-id order) cut into blocks of `size` (default BLOCK_LEAVES):
    (block, its events)."""
    size = size or BLOCK_LEAVES
    sha256 = hashlib.sha256
    block: _Block | None = None
    index = 0
    for contact_id, seq, head_hash in heads:
        if block is None:
            block = _Block(first=contact_id)
        block.leaves.append(sha256(b"\x00" + f"{contact_id}:{seq}:{head_hash}".encode()).digest())
        block.events += seq
        block.last = contact_id
        if len(block.leaves) == size:
            yield _sealed_block(block, index)
            block, index = None, index + 1
    if block is not None:
        yield _sealed_block(block, index)


def _sealed_block(block: _Block, index: int) -> tuple[SealBlock, int]:
    sealed = SealBlock(
        index=index,
        first_contact_id=UUID(block.first),
        last_contact_id=UUID(block.last),
        leaves=len(block.leaves),
        root=merkle_root(block.leaves)[0],
    )
    return sealed, block.events


def notice_leaf(pk: int, ref: str, text: str) -> bytes:
    body = json.dumps(
        {"id": pk, "ref": ref, "text_sha256": hashlib.sha256(text.encode()).hexdigest()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(b"\x00" + body.encode()).digest()


def notice_leaves() -> dict[int, bytes]:
    """Every notice's leaf as it stands now, in id order."""
    return {
        notice.pk: notice_leaf(notice.pk, notice.ref, notice.text)
        for notice in ConsentNotice.objects.order_by("pk")
        .select_related("topic")
        .only("pk", "purpose", "language", "version", "text", "topic__key")
    }


# --- Checking ----------------------------------------------------------------------------


@dataclass
class SealProblem:
    problem: str
    contact_id: UUID | None = None
    seal: int | None = None

    def __str__(self) -> str:
        who = f"contact {self.contact_id}: " if self.contact_id else ""
        where = f"seal #{self.seal}: " if self.seal else ""
        return f"{where}{who}{self.problem}"


@dataclass
class SealVerification:
    seals: int = 0
    heads: int = 0
    problems: list[SealProblem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def verify_seals() -> SealVerification:
    """Each seal's hash and link, the latest seal's root from its heads, every head in the ledger.

    A chain deleted or truncated since a seal is named by its contact.
    """
    result = SealVerification()
    with transaction.atomic():
        previous: LedgerSeal | None = None
        for seal in LedgerSeal.objects.order_by("seq").iterator():
            result.seals += 1
            expected_prev = previous.hash if previous else None
            expected_seq = previous.seq + 1 if previous else 1
            if seal.seq != expected_seq:
                missing = f"seal #{expected_seq} is missing (found #{seal.seq})"
                result.problems.append(SealProblem(missing, seal=seal.seq))
            elif seal.prev_hash != expected_prev:
                result.problems.append(
                    SealProblem("prev_hash does not match the previous seal", seal=seal.seq)
                )
            elif seal.hash != seal_hash(seal_fields(seal)):
                result.problems.append(
                    SealProblem("stored fields do not match the seal's hash", seal=seal.seq)
                )
            previous = seal
        if previous is not None and previous.form >= 2:
            result.heads = _check_blocks(previous, result.problems)
            result.problems += _changed_notices(previous)
        elif previous is not None:
            root, chains, events = root_of(sealed_heads(previous))
            result.heads = chains
            if (root, chains, events) != (previous.root, previous.chains, previous.events):
                result.problems.append(
                    SealProblem("the stored heads do not give the seal's root", seal=previous.seq)
                )
        result.problems += _heads_missing_from_ledger()
    return result


def _check_blocks(seal: LedgerSeal, problems: list[SealProblem]) -> int:
    """The stored heads cut into blocks again: each block as stored, the roots the seal's."""
    stored = list(SealBlock.objects.filter(seal=seal).order_by("index"))
    # The seal's own block size: its first block's, when there is a second.
    size = stored[0].leaves if len(stored) > 1 else None
    rebuilt = list(_blocks(sealed_heads(seal), size))
    chains = sum(block.leaves for block, _ in rebuilt)
    events = sum(count for _, count in rebuilt)
    same = [(b.first_contact_id, b.last_contact_id, b.leaves, b.root) for b, _ in rebuilt] == [
        (b.first_contact_id, b.last_contact_id, b.leaves, b.root) for b in stored
    ]
    root = merkle_root(bytes.fromhex(block.root) for block in stored)[0]
    if not same or (root, chains, events) != (seal.root, seal.chains, seal.events):
        problems.append(SealProblem("the stored heads do not give the seal's root", seal=seal.seq))
    return chains


def _changed_notices(seal: LedgerSeal) -> list[SealProblem]:
    """A notice whose id, ref or text no longer gives the leaf the seal stored."""
    sealed = dict(
        SealedNotice.objects.filter(seal=seal)
        .order_by("notice_id")
        .values_list("notice_id", "leaf")
    )
    problems = []
    if (merkle_root(bytes.fromhex(leaf) for leaf in sealed.values())[0], len(sealed)) != (
        seal.notices_root,
        seal.notices,
    ):
        problems.append(SealProblem("the stored notices do not give its root", seal=seal.seq))
    now = notice_leaves()
    for pk, leaf in sealed.items():
        if pk not in now:
            problems.append(SealProblem(f"notice {pk} is gone", seal=seal.seq))
        elif now[pk].hex() != leaf:
            problems.append(SealProblem(f"notice {pk} changed since it was sealed", seal=seal.seq))
    return problems


def _heads_missing_from_ledger() -> list[SealProblem]:
    found: dict[str, SealProblem] = {}
    for contact_id, seq, _sealed, now, seal_seq, last in sql.heads_differing_from_the_ledger():
        contact_id = sql.contact_text(contact_id)
        if contact_id in found:
            continue
        if last is None:
            problem = f"chain deleted: seal #{seal_seq} saw it end at #{seq}, no event is left"
        elif now is None:
            problem = (
                f"chain truncated: seal #{seal_seq} saw it end at #{seq}, it now ends at #{last}"
            )
        else:
            problem = f"event #{seq} differs from the head seal #{seal_seq} saw"
        found[contact_id] = SealProblem(problem, contact_id=UUID(contact_id))
    return list(found.values())


# --- Proof of inclusion ------------------------------------------------------------------


def latest_seal() -> LedgerSeal | None:
    return LedgerSeal.objects.order_by("-seq").first()


def inclusion(seal: LedgerSeal, contact_id: UUID) -> dict[str, Any] | None:
    """Where the contact's chain head sits in `seal`, with its audit path; None if unsealed."""
    if seal.form >= 2:
        return _block_inclusion(seal, contact_id)
    wanted = str(contact_id)
    leaves: list[bytes] = []
    index, head = None, None
    with transaction.atomic():
        for contact, seq, head_hash in sealed_heads(seal):
            if contact == wanted:
                index, head = len(leaves), {"contact": contact, "seq": seq, "hash": head_hash}
            leaves.append(leaf_hash(contact, seq, head_hash))
    if index is None:
        return None
    return {
        "leaf": head,
        "leaf_index": index,
        "tree_size": len(leaves),
        "path": inclusion_path(leaves, index),
    }


def _block_inclusion(seal: LedgerSeal, contact_id: UUID) -> dict[str, Any] | None:
    """The path within the contact's block (its heads read again), then among the blocks."""
    contact_id = UUID(str(contact_id))
    block = (
        SealBlock.objects.filter(seal=seal, first_contact_id__lte=contact_id)
        .order_by("-first_contact_id")
        .first()
    )
    if block is None or block.last_contact_id < contact_id:
        return None
    heads = _block_heads(seal, block)
    wanted = str(contact_id)
    at = next((i for i, (contact, _, _) in enumerate(heads) if contact == wanted), None)
    if at is None:
        return None
    leaves = [leaf_hash(*head) for head in heads]
    blocks = list(
        SealBlock.objects.filter(seal=seal).order_by("index").values_list("root", "leaves")
    )
    roots = [root for root, _ in blocks]
    # Every block but the last has the seal's block size, whatever BLOCK_LEAVES is now.
    contact, seq, head_hash = heads[at]
    return {
        "leaf": {"contact": contact, "seq": seq, "hash": head_hash},
        "leaf_index": block.index * blocks[0][1] + at,
        "tree_size": seal.chains,
        "path": inclusion_path(leaves, at)
        + inclusion_path([bytes.fromhex(root) for root in roots], block.index),
    }


def _block_heads(seal: LedgerSeal, block: SealBlock) -> list[Head]:
    """The heads `seal` saw from the block's first contact to its last, in contact-id order."""
    rows = (
        SealedHead.objects.filter(
            contact_id__gte=block.first_contact_id,
            contact_id__lte=block.last_contact_id,
            seal_id__lte=seal.pk,
        )
        .order_by("contact_id", "-seq")
        .values_list("contact_id", "seq", "hash")
    )
    heads: list[Head] = []
    for contact_id, seq, head_hash in rows:
        contact = str(contact_id)
        if not heads or heads[-1][0] != contact:
            heads.append((contact, seq, head_hash))
    return heads


def notice_inclusions(seal: LedgerSeal) -> dict[int, dict[str, Any]]:
    """Each notice a form-2 seal saw, by id: its path to the seal's `notices_root`."""
    if seal.form < 2:
        return {}
    rows = list(
        SealedNotice.objects.filter(seal=seal)
        .order_by("notice_id")
        .values_list("notice_id", "leaf")
    )
    leaves = [bytes.fromhex(leaf) for _, leaf in rows]
    return {
        pk: {"leaf_index": at, "tree_size": len(leaves), "path": inclusion_path(leaves, at)}
        for at, (pk, _) in enumerate(rows)
    }


def seal_on(day: date) -> LedgerSeal | None:
    return LedgerSeal.objects.filter(sealed_on=day).first()
