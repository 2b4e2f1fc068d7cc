#!/usr/bin/env python3
"""Check a webhook delivery from the consent CRM, with the Python standard library alone.

    python3 verify_webhook.py --secret whsec_… --header 't=…,v1=…' BODY_FILE

In a receiver, call `verify(raw_body, request.headers["Consent-Signature"], secret)` on the
raw bytes, before parsing them. During a secret's rotation the header carries two `v1=`
signatures: either matching is enough, so the receiver may switch secrets at any time within
the 24 hours. A timestamp older than `tolerance` seconds is refused (a replayed request).

Ordering: each delivery carries `contact` and `sequence` (1, 2, 3… per contact) and an
`id`; deliveries may repeat (at least once), never overtake each other for one contact.
Keep the highest sequence applied per contact, and ignore an `id` already seen or a
`sequence` not above it (`Ordering.accept`). A sequence that skips numbers is a change of a
type this endpoint does not receive, or one given up after days of failures: read it from
`GET /api/v1/changes/`.

Exit status: 0 valid, 1 invalid. This file ships with the product on purpose: it shares no
code with it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import time

TOLERANCE_SECONDS = 300


def parse_header(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise ValueError("not a Consent-Signature header")
    return timestamp, signatures


def verify(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when one of the header's signatures is this secret's over "<t>.<body>"."""
    try:
        timestamp, signatures = parse_header(header)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, given) for given in signatures)


class Ordering:
    """A receiver's memory: which event ids it applied and each contact's last sequence."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.last: dict[str, int] = {}

    def accept(self, event: dict) -> bool:
        """True when `event` is new and in order: apply it; False: drop it."""
        if event["id"] in self.seen:
            return False
        contact, sequence = event.get("contact"), event.get("sequence")
        if contact is not None and sequence is not None:
            if sequence <= self.last.get(contact, 0):
                return False
            self.last[contact] = sequence
        self.seen.add(event["id"])
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("body", help="file with the raw request body")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--header", required=True, help="the Consent-Signature header")
    parser.add_argument("--tolerance", type=int, default=TOLERANCE_SECONDS)
    args = parser.parse_args(argv)
    with open(args.body, "rb") as file:
        body = file.read()
    if not verify(body, args.header, args.secret, tolerance=args.tolerance):
        print("invalid signature (or too old)")
        return 1
    event = json.loads(body)
    print(f"valid: {event.get('type')} {event.get('id')} sequence {event.get('sequence')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
