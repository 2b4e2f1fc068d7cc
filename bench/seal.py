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
            raise Rollback
    except Rollback:
        pass
    return elapsed, next_day, seal


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
    seconds, next_day_s, seal = _seal_rolled_back()
    target_s = TARGET_S_PER_MILLION * max(seal.chains, 1) / 1_000_000
    return [
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
        }
    ]


def main(argv: list[str] | None = None) -> int:
    return hook_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
