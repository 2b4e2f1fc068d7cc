"""Sealing the ledger on the shared dataset (bench/dataset.py): target < 30 s at 1 M chains.

- seal: `consent.seals.seal_ledger` as on the first day (every head stored), inside a
  transaction rolled back afterwards, so the dataset stays unsealed and runs repeat;
  then, in the same transaction, the next day's seal (nothing changed: every head is
  probed, none stored), reported beside it as `next_day_s`;
- baseline, same run: a bare psycopg loop over the same heads query from one
  server-side cursor, hashing each leaf with hashlib (no tree, nothing stored).

Run alone: .venv/bin/python bench/seal.py --scale 100000 [--json f]
The dataset must exist (bench/dataset.py --scale N, or make bench / bench-small).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import PG_SERVER, bench_env, hook_main, loadavg, log
from bench.dataset import database_name

TARGET_S_PER_MILLION = 30
BUNDLES = 30
BUNDLE_TARGET_MS = 50


class Rollback(Exception):
    pass


def _bare_leaf_loop(dsn: str, sql: str) -> int:
    sha256 = hashlib.sha256
    done = 0
    with psycopg.connect(dsn) as conn, conn.cursor(name="bench_seal") as cur:
        cur.itersize = 10_000
        cur.execute(sql)
        for contact_id, seq, head_hash in cur:
            sha256(b"\x00" + f"{contact_id}:{seq}:{head_hash}".encode()).digest()
            done += 1
    return done


def _seal_rolled_back():
    from datetime import date, timedelta

    from django.db import transaction

    from consent.seals import seal_ledger

    day = date.today()
    started = time.perf_counter()
    try:
        with transaction.atomic():
            seal = seal_ledger(on=day)
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            seal_ledger(on=day + timedelta(days=1))
            next_day = time.perf_counter() - started
            bundles = _bundles(seal)
            raise Rollback
    except Rollback:
        pass
    return elapsed, next_day, seal, bundles


def _bundles(seal) -> dict:
    """Median of proof bundles for sampled contacts, beside the bare reads of what one needs.

    The floor reads, in one connection, exactly the rows a bundle is made of: the
    contact's events with their evidence and notices, the block of heads its leaf
    sits in (as the seal saw them) and the seal's block roots; no hashing, no JSON.
    """
    import random
    import statistics

    from django.db import connection

    from consent.proof import proof_bundle
    from contacts.models import Contact

    ids = list(Contact.objects.order_by("?").values_list("pk", flat=True)[:BUNDLES])
    random.Random(1).shuffle(ids)
    ours, floor = [], []
    # The seal is uncommitted: the floor reads through the same connection.
    cursor = connection.cursor().cursor
    for contact_id in ids:
        contact = Contact.objects.get(pk=contact_id)
        started = time.perf_counter()
        bundle = proof_bundle(contact)
        ours.append((time.perf_counter() - started) * 1000)
        assert bundle["inclusion"] is not None or not bundle["events"]
        started = time.perf_counter()
        cursor.execute(
            "SELECT e.*, v.*, n.text FROM consent_consentevent e "
            "LEFT JOIN consent_consentevidence v ON v.event_id = e.id "
            "LEFT JOIN consent_consentnotice n ON n.id = e.notice_id "
            "WHERE e.contact_id = %s ORDER BY e.seq",
            [contact_id],
        )
        cursor.fetchall()
        cursor.execute(
            "SELECT first_contact_id, last_contact_id FROM consent_sealblock "
            "WHERE seal_id = %s AND first_contact_id <= %s "
            "ORDER BY first_contact_id DESC LIMIT 1",
            [seal.pk, contact_id],
        )
        first, last = cursor.fetchone()
        cursor.execute(
            "SELECT DISTINCT ON (contact_id) contact_id, seq, hash FROM consent_sealedhead "
            "WHERE contact_id BETWEEN %s AND %s AND seal_id <= %s "
            "ORDER BY contact_id, seq DESC",
            [first, last, seal.pk],
        )
        cursor.fetchall()
        cursor.execute(
            "SELECT root FROM consent_sealblock WHERE seal_id = %s ORDER BY index", [seal.pk]
        )
        cursor.fetchall()
        floor.append((time.perf_counter() - started) * 1000)
    return {
        "n": len(ids),
        "median_ms": statistics.median(ours),
        "max_ms": max(ours),
        "floor_median_ms": statistics.median(floor),
    }


def run(scale: int) -> list[dict]:
    database = database_name(scale)
    os.environ.update(bench_env(database))
    import django

    django.setup()
    from django.core.management import call_command

    from consent.models import LedgerSeal
    from consent.sql import ledger_heads_sql

    log(f"seal: migrating {database}")
    call_command("migrate", "--noinput", verbosity=0)
    if LedgerSeal.objects.exists():
        log("seal: the dataset has seals already; the figure is for the heads changed since")
    dsn = f"{PG_SERVER}/{database}"
    log(f"seal: bare leaf-hashing loop (load {loadavg()})")
    start = time.perf_counter()
    heads = _bare_leaf_loop(dsn, ledger_heads_sql())
    bare_s = time.perf_counter() - start
    log(f"seal: seal_ledger over {heads:,} chains (load {loadavg()})")
    seconds, next_day_s, seal, bundles = _seal_rolled_back()
    target_s = TARGET_S_PER_MILLION * max(seal.chains, 1) / 1_000_000
    load = loadavg()
    return [
        {
            "name": f"proof bundle, {seal.chains:,} sealed chains (median of {bundles['n']})",
            "figure": round(bundles["median_ms"], 2),
            "unit": "ms",
            "baseline": round(bundles["floor_median_ms"], 2),
            "baseline_label": "bare reads of the rows a bundle needs, ms",
            "baseline_method": "psycopg, same connection: the contact's events with evidence "
            "and notices, its block's sealed heads (DISTINCT ON), the seal's block roots",
            "ratio": round(bundles["median_ms"] / bundles["floor_median_ms"], 2),
            "target": f"< {BUNDLE_TARGET_MS} ms",
            "met": bundles["median_ms"] < BUNDLE_TARGET_MS,
            "load": load,
            "max_ms": round(bundles["max_ms"], 2),
            "scale": scale,
        },
        {
            "name": f"seal {seal.chains:,} chains (seal_ledger, first seal: every head stored)",
            "figure": round(seconds, 3),
            "unit": "s",
            "baseline": round(bare_s, 3),
            "baseline_label": "bare cursor loop hashing the same leaves, s",
            "ratio": round(seconds / bare_s, 2) if bare_s else None,
            "target": f"< 30 s per 1 M chains (< {target_s:.1f} s here)",
            "met": seconds < target_s and seal.chains == heads,
            "load": loadavg(),
            "chains_per_s": round(seal.chains / seconds),
            "next_day_s": round(next_day_s, 3),
            "events": seal.events,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    return hook_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
