"""Eligibility benchmark (issue 3): 1,000,000 contacts on PostgreSQL.

Measures, in one run and on the same phones:
- the floor: the bare SQL lookup through psycopg (one SELECT per phone; one unnest-join query
  for the bulk), with the keyed hashes computed beforehand;
- the selectors `may_send` / `may_send_many` called in-process;
- the endpoints in-process (django.test.Client; server time from the bench middleware's
  header, SQL queries per request from CaptureQueriesContext);
- the endpoints over HTTP under gunicorn (server time from the same header, and the
  client's round trip).

Run: .venv/bin/python bench/eligibility.py [--contacts N] [--json results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import os
import random
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import (
    PG_SERVER,
    bench_env,
    check_services,
    db_name,
    gunicorn,
    log,
    migrated_database,
    summary_ms,
)
from bench.dataset import phone_of
from bench.middleware import SERVER_TIME_HEADER

DATABASE = db_name("eligibility")
PURPOSE = "marketing"
LOAD_CHUNK = 100_000

# Marketing status of the loaded contacts: (status, share). "no row" = never asked.
MARKETING_MIX = [
    ("opted_in", 0.30),
    ("opted_out", 0.15),
    ("legacy", 0.12),
    ("pending", 0.08),
    ("paused", 0.05),
    ("expired", 0.05),
    ("none", 0.05),
    (None, 0.20),
]
SERVICE_MIX = [("opted_in", 0.40), ("opted_out", 0.10), (None, 0.50)]


def _picker(mix: list[tuple[str | None, float]], rng: random.Random):
    statuses = [status for status, _ in mix]
    weights = [share for _, share in mix]
    return lambda count: rng.choices(statuses, weights, k=count)


# --- Loading -----------------------------------------------------------------------


def load_contacts(dsn: str, count: int, key: str) -> dict[str, int]:
    """COPY `count` contacts and their ConsentState rows; returns rows per status."""
    rng = random.Random(20261125)
    now = datetime.now(UTC)
    stamp = now.isoformat()
    future = (now + timedelta(days=60)).isoformat()
    past = (now - timedelta(days=3)).isoformat()
    marketing_of = _picker(MARKETING_MIX, rng)
    service_of = _picker(SERVICE_MIX, rng)
    hmac_key = key.encode()
    counts: dict[str, int] = {}
    contact_columns = (
        "id, phone, phone_hash, wa_id, name, language, attributes, link_secret, "
        "created_at, updated_at"
    )
    state_columns = (
        "contact_id, purpose, status, since, source, expires_at, paused_until, updated_at"
    )
    with psycopg.connect(dsn) as conn:
        _check_columns(conn)
        # Rows are consistent by construction; FK triggers would only slow the load down.
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        # A sorted index build is much faster than a million random inserts into each.
        recreate = _drop_secondary_indexes(conn, ["contacts_contact", "consent_consentstate"])
        cur = conn.cursor()
        for start in range(0, count, LOAD_CHUNK):
            size = min(LOAD_CHUNK, count - start)
            contacts, states = io.StringIO(), io.StringIO()
            marketing = marketing_of(size)
            service = service_of(size)
            for offset in range(size):
                index = start + offset
                phone = phone_of(index)
                digest = hmac.new(hmac_key, phone.encode(), hashlib.sha256).hexdigest()
                contact_id = uuid.uuid4()
                contacts.write(
                    f"{contact_id}\t{phone}\t{digest}\t{phone[1:]}\tBench {index}\ten\t{{}}\t"
                    f"{secrets.token_urlsafe(16)}\t{stamp}\t{stamp}\n"
                )
                pairs = (("marketing", marketing[offset]), ("service", service[offset]))
                for purpose, status in pairs:
                    if status is None:
                        continue
                    expires = paused = r"\N"
                    if status == "legacy":
                        # Most still in their grace period, some already lapsed.
                        expires = future if index % 4 else past
                    elif status == "paused":
                        paused = future if index % 4 else past
                    states.write(
                        f"{contact_id}\t{purpose}\t{status}\t{stamp}\timport\t{expires}\t{paused}\t{stamp}\n"
                    )
                    counts[f"{purpose}:{status}"] = counts.get(f"{purpose}:{status}", 0) + 1
            with cur.copy(f"COPY contacts_contact ({contact_columns}) FROM STDIN") as copy:
                copy.write(contacts.getvalue())
            with cur.copy(f"COPY consent_consentstate ({state_columns}) FROM STDIN") as copy:
                copy.write(states.getvalue())
        for statement in recreate:
            conn.execute(statement)
        conn.commit()
        conn.execute("SET session_replication_role = DEFAULT")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE contacts_contact")
        conn.execute("VACUUM ANALYZE consent_consentstate")
    return counts


def _drop_secondary_indexes(conn: psycopg.Connection, tables: list[str]) -> list[str]:
    """Drop the unique constraints and indexes (not primary keys) of `tables`.

    Returns the statements that put them back exactly as the migrations made them.
    """
    recreate: list[str] = []
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = ANY(%s::regclass[]) AND contype = 'u'",
        [tables],
    ).fetchall()
    for table, name, definition in constraints:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        recreate.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [tables],
    ).fetchall()
    for name, definition in indexes:
        conn.execute(f"DROP INDEX {name}")
        recreate.append(definition)
    return recreate


def _check_columns(conn: psycopg.Connection) -> None:
    """Fail clearly if a model gained a required column this loader does not fill."""
    filled = {
        "contacts_contact": {
            "id", "phone", "phone_hash", "wa_id", "name", "language", "attributes",
            "link_secret", "created_at", "updated_at",
        },
        "consent_consentstate": {
            "id", "contact_id", "purpose", "status", "since", "source", "expires_at",
            "paused_until", "updated_at",
        },
    }  # fmt: skip
    for table, columns in filled.items():
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND is_nullable = 'NO' AND column_default IS NULL",
            [table],
        ).fetchall()
        missing = {name for (name,) in rows} - columns
        if missing:
            raise SystemExit(f"bench loader: {table} has new required columns {sorted(missing)}")


# --- The floor: bare SQL through psycopg ---------------------------------------------

SINGLE_SQL = (
    "SELECT s.status, s.expires_at, s.paused_until FROM contacts_contact c "
    "LEFT JOIN consent_consentstate s ON s.contact_id = c.id AND s.purpose = %s "
    "WHERE c.phone_hash = %s"
)
# The same index path as ours (PERF-1M: `= ANY` ran as a parallel sequential scan, which
# is no floor): probe the phone_hash index once per unnested hash.
BULK_SQL = (
    "SELECT c.phone_hash, s.status, s.expires_at, s.paused_until "
    "FROM unnest(%s::varchar[]) AS wanted(phone_hash) "
    "JOIN contacts_contact c ON c.phone_hash = wanted.phone_hash "
    "LEFT JOIN consent_consentstate s ON s.contact_id = c.id AND s.purpose = %s"
)


def floor_single(dsn: str, hashes: list[str]) -> list[float]:
    times = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        for digest in hashes[:50]:  # warm the connection and the prepared statement
            cur.execute(SINGLE_SQL, [PURPOSE, digest]).fetchone()
        for digest in hashes:
            start = time.perf_counter()
            cur.execute(SINGLE_SQL, [PURPOSE, digest]).fetchone()
            times.append((time.perf_counter() - start) * 1000)
    return times


def floor_bulk(dsn: str, hashes: list[str], rounds: int) -> tuple[list[float], int]:
    times, found = [], 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(BULK_SQL, [hashes, PURPOSE]).fetchall()
        for _ in range(rounds):
            start = time.perf_counter()
            found = len(cur.execute(BULK_SQL, [hashes, PURPOSE]).fetchall())
            times.append((time.perf_counter() - start) * 1000)
    return times, found


# --- The project, in-process ----------------------------------------------------------


def _server_ms(response) -> float:
    return int(response[SERVER_TIME_HEADER]) / 1000


def measure_in_process(phones: list[str], bulk: list[str], rounds: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from api.models import ApiKey
    from consent.selectors import may_send, may_send_many
    from contacts.phones import normalize_phone, phone_hash

    results: dict = {}
    _, key = ApiKey.objects.create_key(name="bench in-process", scopes=["consent:read"])
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_ACCEPT="application/json")

    # Selectors, for a figure without HTTP, DRF or auth.
    for phone in phones[:50]:
        may_send(phone, PURPOSE)
    times = []
    for phone in phones:
        start = time.perf_counter()
        may_send(phone, PURPOSE)
        times.append((time.perf_counter() - start) * 1000)
    results["may_send"] = summary_ms(times)
    may_send_many(bulk, PURPOSE)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        may_send_many(bulk, PURPOSE)
        times.append((time.perf_counter() - start) * 1000)
    results["may_send_many"] = summary_ms(times)
    # What may_send_many spends before its query: parsing and hashing each phone.
    start = time.perf_counter()
    for phone in bulk:
        phone_hash(normalize_phone(phone))
    results["normalize_and_hash_bulk_ms"] = (time.perf_counter() - start) * 1000
    with CaptureQueriesContext(connection) as captured:
        may_send(phones[0], PURPOSE)
    results["may_send_queries"] = len(captured.captured_queries)
    with CaptureQueriesContext(connection) as captured:
        may_send_many(bulk, PURPOSE)
    results["may_send_many_queries"] = len(captured.captured_queries)

    # The endpoints through Django's full stack (no HTTP server).
    def single(phone: str):
        response = client.get("/api/v1/eligibility/", {"phone": phone, "purpose": PURPOSE})
        if response.status_code != 200:
            raise SystemExit(f"eligibility answered {response.status_code}: {response.content!r}")
        return response

    for phone in phones[:50]:
        single(phone)
    server, total = [], []
    for phone in phones:
        start = time.perf_counter()
        response = single(phone)
        total.append((time.perf_counter() - start) * 1000)
        server.append(_server_ms(response))
    results["single_server"] = summary_ms(server)
    results["single_client"] = summary_ms(total)
    counts = []
    for phone in phones[:100]:
        with CaptureQueriesContext(connection) as captured:
            single(phone)
        counts.append(len(captured.captured_queries))
    results["single_queries"] = {"min": min(counts), "max": max(counts)}

    body = json.dumps({"purpose": PURPOSE, "phones": bulk})

    def post_bulk():
        response = client.post("/api/v1/eligibility/bulk/", body, content_type="application/json")
        if response.status_code != 200:
            raise SystemExit(f"bulk eligibility answered {response.status_code}")
        return response

    post_bulk()
    server = []
    for _ in range(rounds):
        server.append(_server_ms(post_bulk()))
    results["bulk_server"] = summary_ms(server)
    with CaptureQueriesContext(connection) as captured:
        answer = post_bulk()
    results["bulk_queries"] = len(captured.captured_queries)
    rows = json.loads(answer.content)["results"]
    results["bulk_rows"] = len(rows)
    results["bulk_reasons"] = _tally(row["reason"] for row in rows)
    results["sending_number"] = _with_and_without_a_number(client, phones, bulk, rounds)
    return results


def _with_and_without_a_number(client, phones: list[str], bulk: list[str], rounds: int) -> dict:
    """Issue 25: the same questions with and without `sending_number`, interleaved, in the
    `number` stop scope (where the number changes the answer: an opted-out person is asked
    again for that number)."""
    from django.test import override_settings

    from whatsapp.models import SendingNumber

    number = SendingNumber.objects.get_or_create(
        phone_number_id="bench-number-1", defaults={"label": "bench"}
    )[0].phone_number_id
    times: dict[str, list[float]] = {
        "single": [],
        "single_number": [],
        "bulk": [],
        "bulk_number": [],
    }
    with override_settings(CONSENT_STOP_SCOPE="number"):
        for phone in phones:
            for key, extra in (("single", {}), ("single_number", {"sending_number": number})):
                response = client.get(
                    "/api/v1/eligibility/", {"phone": phone, "purpose": PURPOSE, **extra}
                )
                if response.status_code != 200:
                    raise SystemExit(f"eligibility answered {response.status_code}")
                times[key].append(_server_ms(response))
        for _ in range(rounds):
            for key, extra in (("bulk", {}), ("bulk_number", {"sending_number": number})):
                response = client.post(
                    "/api/v1/eligibility/bulk/",
                    json.dumps({"purpose": PURPOSE, "phones": bulk, **extra}),
                    content_type="application/json",
                )
                if response.status_code != 200:
                    raise SystemExit(f"bulk eligibility answered {response.status_code}")
                times[key].append(_server_ms(response))
    return {key: summary_ms(values) for key, values in times.items()}


def _tally(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


# --- The project over HTTP (gunicorn) ---------------------------------------------------


def measure_http(env: dict[str, str], phones: list[str], bulk: list[str], rounds: int) -> dict:
    import httpx

    from api.models import ApiKey

    _, key = ApiKey.objects.create_key(name="bench http", scopes=["consent:read"])
    headers = {"Authorization": f"Api-Key {key}", "Accept": "application/json"}
    results: dict = {}
    with gunicorn(env) as base, httpx.Client(base_url=base, headers=headers, timeout=30) as http:

        def single(phone: str) -> httpx.Response:
            response = http.get("/api/v1/eligibility/", params={"phone": phone, "purpose": PURPOSE})
            response.raise_for_status()
            return response

        # Every worker opens its connection and warms up.
        for phone in phones[:100]:
            single(phone)
        server, total = [], []
        for phone in phones:
            start = time.perf_counter()
            response = single(phone)
            total.append((time.perf_counter() - start) * 1000)
            server.append(int(response.headers[SERVER_TIME_HEADER]) / 1000)
        results["single_server"] = summary_ms(server)
        results["single_client"] = summary_ms(total)

        payload = {"purpose": PURPOSE, "phones": bulk}
        for _ in range(3):
            http.post("/api/v1/eligibility/bulk/", json=payload).raise_for_status()
        server, total = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            response = http.post("/api/v1/eligibility/bulk/", json=payload)
            total.append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
            server.append(int(response.headers[SERVER_TIME_HEADER]) / 1000)
        results["bulk_server"] = summary_ms(server)
        results["bulk_client"] = summary_ms(total)
    return results


# --- The run ----------------------------------------------------------------------------


def run(
    *,
    contacts: int,
    samples: int,
    bulk_size: int,
    rounds: int,
    database: str = DATABASE,
    reuse: bool = False,
) -> dict:
    check_services()
    env = bench_env(database)
    os.environ.update(env)
    dsn = f"{PG_SERVER}/{database}"
    started = time.monotonic()
    load_at_start = os.getloadavg()

    if reuse:
        # Built by bench/dataset.py (same phones, same mix of states) and reused.
        log(f"eligibility: reusing {database} ({contacts:,} contacts)")
        counts, load_seconds = {}, 0.0
    else:
        log(f"eligibility: recreating database {database} and migrating")
        migrated_database(database, env)
        log(f"eligibility: loading {contacts:,} contacts with their consent states (COPY)")
        load_started = time.monotonic()
        counts = load_contacts(dsn, contacts, env["PHONE_HASH_KEY"])
        load_seconds = time.monotonic() - load_started
        log(f"eligibility: loaded in {load_seconds:.1f} s")

    rng = random.Random(7)
    phones = [phone_of(i) for i in rng.sample(range(contacts), samples)]
    bulk = [phone_of(i) for i in rng.sample(range(contacts), bulk_size)]

    import django

    django.setup()
    from contacts.phones import phone_hash

    log("eligibility: floor (bare SQL through psycopg)")
    floor = {}
    floor_times = floor_single(dsn, [phone_hash(p) for p in phones])
    floor["single"] = summary_ms(floor_times)
    bulk_times, found = floor_bulk(dsn, [phone_hash(p) for p in bulk], rounds)
    floor["bulk"] = summary_ms(bulk_times)
    floor["bulk_rows"] = found

    log("eligibility: selectors and endpoints in-process")
    in_process = measure_in_process(phones, bulk, rounds)
    log("eligibility: endpoints over HTTP under gunicorn")
    http = measure_http(env, phones, bulk, rounds)
    return {
        "contacts": contacts,
        "state_rows": counts,
        "load_seconds": load_seconds,
        "samples": samples,
        "bulk_size": bulk_size,
        "rounds": rounds,
        "floor": floor,
        "in_process": in_process,
        "http": http,
        "load_average_at_start": load_at_start,
        "seconds": time.monotonic() - started,
    }


def report(result: dict) -> str:
    floor, inproc, http = result["floor"], result["in_process"], result["http"]
    f_single = floor["single"]["median_ms"]
    f_bulk = floor["bulk"]["median_ms"]

    def line(label: str, stats: dict, base: float | None, extra: str = "") -> str:
        ratio = f"{stats['median_ms'] / base:6.1f}×" if base else "       "
        return (
            f"  {label:<44} median {stats['median_ms']:8.2f} ms  p95 {stats['p95_ms']:8.2f} ms"
            f"  {ratio}  {extra}"
        )

    out = [
        f"Eligibility — {result['contacts']:,} contacts on PostgreSQL "
        f"(loaded in {result['load_seconds']:.0f} s); {result['samples']:,} single lookups, "
        f"bulk of {result['bulk_size']:,} × {result['rounds']} rounds; load average at start "
        f"{result['load_average_at_start'][0]:.2f}. Ratios: against the floor of the same run.",
        "  single (median target < 5 ms server time)",
        line("floor: bare SQL by phone_hash (psycopg)", floor["single"], None),
        line("may_send() in-process", inproc["may_send"], f_single,
             f"{inproc['may_send_queries']} query"),
        line("GET in-process: server time", inproc["single_server"], f_single,
             f"{inproc['single_queries']['min']}–{inproc['single_queries']['max']} queries"),
        line("GET gunicorn: server time", http["single_server"], f_single),
        line("GET gunicorn: client round trip", http["single_client"], f_single),
        "  bulk of 10,000 (target < 250 ms server time, ≤ 4× the floor)",
        line("floor: one unnest-join query (psycopg)", floor["bulk"], None),
        line("may_send_many() in-process", inproc["may_send_many"], f_bulk,
             f"{inproc['may_send_many_queries']} queries"),
        line("POST in-process: server time", inproc["bulk_server"], f_bulk,
             f"{inproc['bulk_queries']} queries"),
        line("POST gunicorn: server time", http["bulk_server"], f_bulk),
        line("POST gunicorn: client round trip", http["bulk_client"], f_bulk),
        f"  for reference, normalize_phone + phone_hash over the bulk's phones in-process: "
        f"{inproc['normalize_and_hash_bulk_ms']:.1f} ms",
        f"  bulk answers by reason: {inproc['bulk_reasons']}",
    ]  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2000, help="single lookups measured")
    parser.add_argument("--bulk-size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7, help="bulk requests measured")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument(
        "--reuse", action="store_true", help="the database is loaded already (bench/dataset.py)"
    )
    args = parser.parse_args(argv)
    result = run(
        contacts=args.contacts,
        samples=args.samples,
        bulk_size=args.bulk_size,
        rounds=args.rounds,
        database=args.database,
        reuse=args.reuse,
    )
    print(report(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
