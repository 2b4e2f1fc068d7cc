#!/usr/bin/env python3
"""Check a consent proof bundle offline, with the Python standard library alone.

    python3 verify_proof.py BUNDLE.json [--seal ROOT]

Re-derives every event's hash from its fields (the canonical serialisation in
README, "The consent ledger"; forms 1, 2 and 3), every evidence digest from the evidence and its
salt, the chain's links, each notice text's digest, the seal's own hash and the
inclusion of the chain's head in the seal's Merkle root (RFC 6962); with a seal of
form 2, also each notice's inclusion in the seal's notices root, so a notice text
changed after the seal fails. With
`--seal ROOT` (a root published elsewhere, e.g. by `export_seal`), the bundle's
seal must have that root. Exit status: 0 valid, 1 invalid, 2 unreadable.

This file ships with the product on purpose: it shares no code with it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

FORMAT = "consent-proof-bundle/1"
FIELDS_FORM_2 = {
    "id", "contact", "seq", "purpose", "action", "source", "notice", "occurred_at",
    "recorded_at", "expires_at", "paused_until", "wamid", "prompted_by_wamid", "context",
    "actor", "idempotency_key", "applied", "status_after", "form", "evidence_digest",
    "prev_hash",
}  # fmt: skip
# Form 3 (events since topics arrived) adds the topic the event is about (null: the purpose).
FIELDS_FORM_3 = FIELDS_FORM_2 | {"topic"}
FIELDS_FORM_1 = {
    "id", "contact", "seq", "purpose", "action", "source", "notice", "occurred_at",
    "recorded_at", "expires_at", "paused_until", "ip", "user_agent", "page_url", "wamid",
    "prompted_by_wamid", "note", "context", "actor", "idempotency_key", "applied",
    "status_after", "prev_hash",
}  # fmt: skip
PERSONAL = ("ip", "user_agent", "page_url", "note")
SEAL_FIELDS = ("seq", "sealed_on", "sealed_at", "chains", "events", "root", "prev_hash")
# Seal form 2 also seals the notices: a Merkle root over each notice's leaf.
SEAL_FIELDS_FORM_2 = (*SEAL_FIELDS, "form", "notices", "notices_root")


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evidence_digest(salt: str, evidence: dict) -> str:
    values = {name: evidence.get(name) or "" for name in PERSONAL}
    if not any(values.values()):
        return ""
    return sha256_hex(salt.encode() + canonical(values))


def leaf_hash(contact: str, seq: int, head_hash: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{contact}:{seq}:{head_hash}".encode()).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def notice_leaf(notice: dict) -> bytes:
    digest = sha256_hex(notice["text"].encode())
    body = canonical({"id": notice["id"], "ref": notice["ref"], "text_sha256": digest})
    return hashlib.sha256(b"\x00" + body).digest()


def root_from_path(leaf: bytes, index: int, size: int, path: list) -> str | None:
    """RFC 9162 section 2.1.3.2: the root an inclusion path leads to, or None."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for hex_hash in path:
        p = bytes.fromhex(hex_hash)
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r.hex() if sn == 0 else None


def check_events(bundle: dict, problems: list[str], notes: list[str]) -> dict[int, str]:
    contact = bundle["contact"]["id"]
    notices = bundle.get("notices") or {}
    hashes: dict[int, str] = {}
    prev_hash = None
    for position, event in enumerate(bundle["events"], start=1):
        fields, stored = event["fields"], event["hash"]
        where = f"event #{position}"
        form = fields.get("form", 1)
        expected = {1: FIELDS_FORM_1, 2: FIELDS_FORM_2, 3: FIELDS_FORM_3}.get(form)
        if set(fields) != expected:
            problems.append(f"{where}: fields are not those of form {form}")
            continue
        if fields["seq"] != position:
            problems.append(f"{where}: seq is {fields['seq']!r}")
        if fields["contact"] != contact:
            problems.append(f"{where}: belongs to another contact")
        if fields["prev_hash"] != prev_hash:
            problems.append(f"{where}: prev_hash does not match the previous event")
        evidence = event.get("evidence") or {}
        erased = "erased_at" in evidence
        if sha256_hex(canonical(fields)) != stored:
            if form == 1 and erased:
                notes.append(f"{where}: form 1, evidence erased: only its links are checked")
            else:
                problems.append(f"{where}: its fields do not give its hash")
        if form != 1 and fields["evidence_digest"]:
            if erased:
                notes.append(f"{where}: {evidence.get('statement') or 'evidence erased'}")
            elif evidence_digest(evidence.get("salt", ""), evidence) != fields["evidence_digest"]:
                problems.append(f"{where}: the evidence does not give its digest")
        if fields["notice"] is not None:
            notice = notices.get(str(fields["notice"]))
            if notice is None:
                problems.append(f"{where}: notice {fields['notice']} is not in the bundle")
        hashes[position] = stored
        prev_hash = stored
    for key, notice in notices.items():
        if sha256_hex(notice["text"].encode()) != notice["text_sha256"]:
            problems.append(f"notice {key} ({notice.get('ref')}): text does not give its digest")
    return hashes


def check_seal(bundle: dict, hashes: dict[int, str], root: str | None, problems, notes) -> None:
    seal, inclusion = bundle.get("seal"), bundle.get("inclusion")
    if seal is None or inclusion is None:
        if root is not None:
            problems.append("the bundle has no seal inclusion, but --seal was given")
        else:
            notes.append("not sealed yet: the chain is checked, not its inclusion in a seal")
        return
    names = SEAL_FIELDS if seal.get("form", 1) == 1 else SEAL_FIELDS_FORM_2
    if sha256_hex(canonical({name: seal[name] for name in names})) != seal["hash"]:
        problems.append(f"seal #{seal['seq']}: its fields do not give its hash")
    if root is not None and seal["root"] != root.strip().lower():
        problems.append(f"seal #{seal['seq']}: its root is not the root given with --seal")
    leaf = inclusion["leaf"]
    if leaf["contact"] != bundle["contact"]["id"]:
        problems.append("the sealed head belongs to another contact")
    if hashes.get(leaf["seq"]) != leaf["hash"]:
        problems.append(f"the sealed head (#{leaf['seq']}) is not an event of this chain")
    reached = root_from_path(
        leaf_hash(leaf["contact"], leaf["seq"], leaf["hash"]),
        inclusion["leaf_index"],
        inclusion["tree_size"],
        inclusion["path"],
    )
    if reached != seal["root"]:
        problems.append(f"seal #{seal['seq']}: the inclusion path does not lead to its root")
    if inclusion["tree_size"] != seal["chains"]:
        problems.append(f"seal #{seal['seq']}: the tree size is not its number of chains")
    if seal.get("form", 1) != 1:
        check_sealed_notices(bundle, seal, leaf["seq"], problems, notes)


def check_sealed_notices(bundle: dict, seal: dict, sealed_seq: int, problems, notes) -> None:
    """Each notice of an event the seal saw must lead to the seal's notices root."""
    seen = {
        str(event["fields"]["notice"])
        for event in bundle["events"]
        if event["fields"]["seq"] <= sealed_seq and event["fields"]["notice"] is not None
    }
    for key, notice in (bundle.get("notices") or {}).items():
        where = f"notice {key} ({notice.get('ref')})"
        if str(notice["id"]) != key:
            problems.append(f"{where}: its id is not its key")
            continue
        inclusion = notice.get("inclusion")
        if inclusion is None:
            if key in seen:
                problems.append(
                    f"{where}: not under seal #{seal['seq']}, yet a sealed event uses it"
                )
            else:
                notes.append(f"{where}: newer than seal #{seal['seq']}: its text is not sealed yet")
            continue
        reached = root_from_path(
            notice_leaf(notice), inclusion["leaf_index"], inclusion["tree_size"], inclusion["path"]
        )
        if reached != seal["notices_root"] or inclusion["tree_size"] != seal["notices"]:
            problems.append(f"{where}: its text is not the one seal #{seal['seq']} saw")


def verify(bundle: dict, root: str | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) for a bundle; valid when there is no problem."""
    problems: list[str] = []
    notes: list[str] = []
    if bundle.get("format") != FORMAT:
        return [f"not a {FORMAT} bundle"], notes
    try:
        hashes = check_events(bundle, problems, notes)
        if len(bundle["events"]) != bundle["chain"]["events"]:
            problems.append("the number of events is not the chain's")
        check_seal(bundle, hashes, root, problems, notes)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problems.append(f"malformed bundle: {type(exc).__name__}: {exc}")
    return problems, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="the bundle's JSON file")
    parser.add_argument("--seal", metavar="ROOT", help="a seal root published elsewhere")
    args = parser.parse_args(argv)
    try:
        with open(args.bundle, encoding="utf-8") as handle:
            bundle = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.bundle}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(bundle, dict):
        print(f"{args.bundle} is not a proof bundle", file=sys.stderr)
        return 2
    problems, notes = verify(bundle, args.seal)
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"INVALID: {problem}")
    if problems:
        return 1
    seal = bundle.get("seal")
    sealed = f", included in seal #{seal['seq']} of {seal['sealed_on']}" if seal else ""
    print(
        f"VALID: contact {bundle['contact']['id']}, {len(bundle['events'])} events, "
        f"chain intact{sealed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
