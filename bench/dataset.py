"""The benchmark database: N contacts with their consent ledger and states, built once.

`make bench` (1,000,000 contacts) and `make bench-small` (100,000) share one loader. The
database `bench_<scale>` is built the first time and reused afterwards: a run only
migrates it (new indexes apply) and refreshes the statistics. It is rebuilt when the
ledger's canonical form changes (the stored hashes would no longer verify) or when this
loader's version changes.

The rows are made with the project's own rules: phones are E.164 with the keyed
`phone_hash`, every event is weighed with `consent.ordering.weigh` in ledger order and
hashed with `consent.chain.chained_hash`, and each state is the projection of its last
applied event, so `verify_ledger` and `rebuild_consent_state --check` find nothing wrong.
Loading uses COPY with the secondary indexes dropped and rebuilt (a sorted build is much
faster than a million random inserts), then VACUUM ANALYZE: autovacuum may be off.

Run alone: .venv/bin/python bench/dataset.py --scale 100000 [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
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

from bench.common import PG_SERVER, bench_env, db_name, log

# Bump when the generated data changes shape: the next run rebuilds.
LOADER_VERSION = 4
CHUNK = 50_000
META_TABLE = "bench_dataset"

# Marketing status of the loaded contacts: (status, share). None = never asked.
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
# Share of contacts tagged `spring` (the audience of the tagged preview and fan-out).
SPRING_SHARE = 0.21
# Share of opted-in contacts with a late legacy import kept as evidence (applied=False).
LATE_IMPORT_SHARE = 0.03
USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"


def phone_of(index: int) -> str:
    """A valid UK mobile number, distinct per index (0 … 99,999,999)."""
    return f"+4474{index:08d}"


def database_name(scale: int) -> str:
    label = f"{scale // 1_000_000}m" if scale % 1_000_000 == 0 else f"{scale // 1000}k"
    return db_name(label)


# --- Stories: the events that lead to each status ----------------------------------


def _stories(rng: random.Random, purpose: str, status: str, index: int, now: datetime):
    """[(action, source, occurred_at, expires_at, paused_until[, recorded_at])], in order."""
    day = timedelta(days=1)
    t0 = now - timedelta(days=rng.uniform(90, 730))
    t1 = t0 + timedelta(days=rng.uniform(1, 20), seconds=rng.uniform(0, 86_400))
    future = now + 60 * day
    grant_source = rng.choice(("web_form", "whatsapp_button", "preference_centre"))
    if status == "opted_in":
        if rng.random() < 0.3:
            events = [
                ("legacy", "import", t0, future, None),
                ("grant", grant_source, t1, None, None),
            ]
        else:
            events = [("grant", grant_source, t0, None, None)]
        if purpose == "marketing" and rng.random() < LATE_IMPORT_SHARE:
            # An old import arriving after the answer: kept as evidence, changes nothing.
            events.append(("legacy", "import", t0 - 10 * day, future, None, t1 + 5 * day))
        return events
    if status == "opted_out":
        return [
            ("grant", grant_source, t0, None, None),
            ("withdraw", "whatsapp_keyword", t1, None, None),
        ]
    if status == "legacy":
        return [("legacy", "import", t0, future if index % 4 else now - 3 * day, None)]
    if status == "pending":
        return [("request", "web_form", t0, None, None)]
    if status == "paused":
        until = now + 30 * day if index % 4 else t1 + 7 * day
        return [
            ("grant", grant_source, t0, None, None),
            ("pause", "preference_centre", t1, None, until),
        ]
    if status == "expired":
        deadline = t0 + 40 * day
        return [
            ("legacy", "import", t0, deadline, None),
            ("expire", "system", deadline, None, None),
        ]
    if status == "none":
        return [
            ("request", "web_form", t0, None, None),
            ("expire", "system", t0 + 3 * day, None, None),
        ]
    raise ValueError(status)


def _picker(mix, rng: random.Random):
    statuses = [status for status, _ in mix]
    weights = [share for _, share in mix]
    return lambda count: rng.choices(statuses, weights, k=count)


# --- COPY text ----------------------------------------------------------------------


def _t(value: datetime | None) -> str:
    return value.isoformat() if value else r"\N"


def _n(value) -> str:
    return r"\N" if value is None else str(value)


CONTACT_COLUMNS = (
    "id",
    "phone",
    "phone_hash",
    "wa_id",
    "name",
    "language",
    "attributes",
    "link_secret",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = (
    "id",
    "contact_id",
    "seq",
    "purpose",
    "action",
    "source",
    "notice_id",
    "occurred_at",
    "recorded_at",
    "expires_at",
    "paused_until",
    "wamid",
    "prompted_by_wamid",
    "context",
    "actor_id",
    "idempotency_key",
    "applied",
    "status_after",
    "form",
    "evidence_digest",
    "prev_hash",
    "hash",
)
EVIDENCE_COLUMNS = ("event_id", "salt", "ip", "user_agent", "page_url", "note")
STATE_COLUMNS = (
    "contact_id",
    "purpose",
    "status",
    "since",
    "source",
    "notice_id",
    "expires_at",
    "paused_until",
    "last_event_id",
    "latest_at",
    "permissive_at",
    "updated_at",
)
TABLES = {
    "contacts_contact": CONTACT_COLUMNS,
    "consent_consentevent": EVENT_COLUMNS,
    "consent_consentevidence": EVIDENCE_COLUMNS,
    "consent_consentstate": (*STATE_COLUMNS, "id"),
    "contacts_contact_tags": ("id", "contact_id", "tag_id"),
}


class Loader:
    def __init__(self, scale: int, notices: dict[str, int], tag_id: int, now: datetime) -> None:
        from consent.chain import chained_hash, seal_evidence
        from consent.ordering import Standing, effective_time, tie_window, weigh
        from contacts.phones import phone_hash

        self.scale, self.notices, self.tag_id, self.now = scale, notices, tag_id, now
        self.chained_hash, self.weigh, self.effective_time = chained_hash, weigh, effective_time
        self.seal_evidence = seal_evidence
        self.Standing, self.tie, self.phone_hash = Standing, tie_window(), phone_hash
        self.rng = random.Random(20261125)
        self.marketing_of = _picker(MARKETING_MIX, self.rng)
        self.service_of = _picker(SERVICE_MIX, self.rng)
        self.counts: dict[str, int] = {"contacts": 0, "events": 0, "states": 0, "spring": 0}

    def chunk(self, start: int, size: int) -> tuple[str, str, str, str]:
        contacts, events, states, tags = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()
        self.evidence = io.StringIO()
        marketing, service = self.marketing_of(size), self.service_of(size)
        rng, now = self.rng, self.now
        stamp = now.isoformat()
        for offset in range(size):
            index = start + offset
            phone = phone_of(index)
            contact_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            created = now - timedelta(days=800) + timedelta(seconds=index * 60 + rng.random())
            language = "es" if index % 5 == 0 else "en"
            attributes = '{"city": "Leeds"}' if index % 10 == 0 else "{}"
            contacts.write(
                f"{contact_id}\t{phone}\t{self.phone_hash(phone)}\t{phone[1:]}\tContact {index}\t"
                f"{language}\t{attributes}\t{secrets.token_urlsafe(16)}\t{created.isoformat()}\t"
                f"{stamp}\n"
            )
            if rng.random() < SPRING_SHARE:
                tags.write(f"{index + 1}\t{contact_id}\t{self.tag_id}\n")
                self.counts["spring"] += 1
            planned = []
            for purpose, status in (("marketing", marketing[offset]), ("service", service[offset])):
                if status is None:
                    continue
                for story in _stories(rng, purpose, status, index, now):
                    action, source, occurred, expires, paused = story[:5]
                    if source == "whatsapp_button":
                        occurred = occurred.replace(microsecond=0)  # Meta stamps whole seconds
                    recorded = (
                        story[5]
                        if len(story) > 5
                        else occurred + timedelta(seconds=rng.uniform(0.001, 3))
                    )
                    planned.append((recorded, purpose, action, source, occurred, expires, paused))
            planned.sort(key=lambda p: p[0])
            self._ledger(contact_id, planned, events, states, stamp)
            self.counts["contacts"] += 1
        return (
            contacts.getvalue(),
            events.getvalue(),
            states.getvalue(),
            tags.getvalue(),
            self.evidence.getvalue(),
        )

    def _ledger(self, contact_id, planned, events, states, stamp) -> None:
        standing: dict[str, object] = {}
        last: dict[str, dict] = {}
        prev_hash = None
        for seq, (recorded, purpose, action, source, occurred, expires, paused) in enumerate(
            planned, start=1
        ):
            before = standing.get(purpose, self.Standing())
            at = self.effective_time(occurred, recorded)
            weighed = self.weigh(before, action, at, tie=self.tie, purpose=purpose)
            evidence = {"ip": "", "user_agent": "", "page_url": "", "wamid": ""}
            if source == "web_form":
                evidence = {
                    "ip": f"203.0.113.{seq + 10}",
                    "user_agent": USER_AGENT,
                    "page_url": "https://shop.example.com/newsletter",
                    "wamid": "",
                }
            elif source.startswith("whatsapp"):
                evidence["wamid"] = (
                    f"wamid.HBgM{hashlib.md5(f'{contact_id}{seq}'.encode()).hexdigest()}"  # noqa: E501
                )
            row = {
                "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "contact": contact_id,
                "seq": seq,
                "purpose": purpose,
                "action": action,
                "source": source,
                "notice": self.notices[purpose] if action in ("grant", "request") else None,
                "occurred_at": occurred,
                "recorded_at": recorded,
                "expires_at": expires,
                "paused_until": paused,
                **evidence,
                "prompted_by_wamid": "",
                "note": "",
                "context": {},
                "actor": None,
                "idempotency_key": None,
                "applied": weighed.applied,
                "status_after": str(weighed.standing.status),
                "prev_hash": prev_hash,
            }
            # The project's own sealing: a salt, the digest of the personal evidence, the form.
            self.seal_evidence(row)
            digest = self.chained_hash(row)
            events.write(
                f"{row['id']}\t{contact_id}\t{seq}\t{purpose}\t{action}\t{source}\t"
                f"{_n(row['notice'])}\t{_t(occurred)}\t{_t(recorded)}\t{_t(expires)}\t"
                f"{_t(paused)}\t{row['wamid']}\t\t{{}}\t\\N\t\\N\t"
                f"{'t' if weighed.applied else 'f'}\t{row['status_after']}\t{row['form']}\t"
                f"{row['evidence_digest']}\t{_n(prev_hash)}\t{digest}\n"
            )
            if row["evidence_salt"]:
                self.evidence.write(
                    f"{row['id']}\t{row['evidence_salt']}\t{row['ip']}\t{row['user_agent']}\t"
                    f"{row['page_url']}\t{row['note']}\n"
                )
            self.counts["events"] += 1
            prev_hash = digest
            if weighed.applied:
                standing[purpose] = weighed.standing
                last[purpose] = row
        for purpose, row in last.items():
            reached = standing[purpose]
            self.counts["states"] += 1
            self.counts[f"{purpose}:{reached.status}"] = (
                self.counts.get(f"{purpose}:{reached.status}", 0) + 1
            )
            states.write(
                f"{contact_id}\t{purpose}\t{reached.status}\t"
                f"{_t(self.effective_time(row['occurred_at'], row['recorded_at']))}\t"
                f"{row['source']}\t{_n(row['notice'])}\t{_t(row['expires_at'])}\t"
                f"{_t(row['paused_until'])}\t{row['id']}\t{_t(reached.latest_at)}\t"
                f"{_t(reached.permissive_at)}\t{stamp}\n"
            )


def _fingerprint(scale: int) -> str:
    """Changes when the canonical form of an event or this loader changes."""
    from consent.chain import CHAINED_FIELDS, chained_hash

    sample = dict.fromkeys(CHAINED_FIELDS, "")
    sample.update(
        seq=1,
        notice=1,
        occurred_at=datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        recorded_at=datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC),
        expires_at=None,
        paused_until=None,
        context={},
        actor=None,
        applied=True,
        prev_hash=None,
    )
    return f"v{LOADER_VERSION}:{scale}:{chained_hash(sample)}"


def _stored_fingerprint(dsn: str) -> str | None:
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            row = conn.execute(f"SELECT fingerprint FROM {META_TABLE}").fetchone()  # noqa: S608
            return row[0] if row else None
    except psycopg.Error:
        return None


def _check_columns(conn: psycopg.Connection) -> None:
    """Fail clearly if a model gained a required column this loader does not fill."""
    for table, columns in TABLES.items():
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
            [table],
        ).fetchall()
        missing = {name for (name,) in rows} - set(columns)
        if missing:
            raise SystemExit(f"bench loader: {table} has new required columns {sorted(missing)}")


def _drop_secondary_indexes(conn: psycopg.Connection, tables: list[str]) -> list[str]:
    """Drop unique constraints and indexes (not primary keys); return what puts them back."""
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


def build(scale: int, dsn: str) -> dict:
    from django.core.management import call_command

    from consent.models import ConsentNotice
    from contacts.models import Tag

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        name = dsn.rsplit("/", 1)[1]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", "--noinput", verbosity=0)
    now = datetime.now(UTC)
    notices = {}
    for purpose in ("marketing", "service"):
        notice = ConsentNotice.objects.create(
            purpose=purpose, language="en", version=1, text=f"May we send you {purpose} messages?"
        )
        ConsentNotice.objects.filter(pk=notice.pk).update(published_at=now - timedelta(days=800))
        notices[purpose] = notice.pk
    tag = Tag.objects.create(name="spring")
    loader = Loader(scale, notices, tag.pk, now)
    tables = list(TABLES)
    with psycopg.connect(dsn) as conn:
        _check_columns(conn)
        # Rows are consistent by construction; FK triggers would only slow the load down.
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        recreate = _drop_secondary_indexes(conn, tables)
        cur = conn.cursor()
        for start in range(0, scale, CHUNK):
            contacts, events, states, tags, evidence = loader.chunk(
                start, min(CHUNK, scale - start)
            )
            for table, data, columns in (
                ("contacts_contact", contacts, CONTACT_COLUMNS),
                ("consent_consentevent", events, EVENT_COLUMNS),
                ("consent_consentevidence", evidence, EVIDENCE_COLUMNS),
                ("consent_consentstate", states, STATE_COLUMNS),
                ("contacts_contact_tags", tags, ("id", "contact_id", "tag_id")),
            ):
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(data)
            log(f"dataset: {start + CHUNK:,} / {scale:,} contacts loaded")
        log("dataset: rebuilding indexes")
        for statement in recreate:
            conn.execute(statement)
        for table in ("contacts_contact_tags", "consent_consentstate"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"  # noqa: S608
            )
        conn.execute(
            f"CREATE TABLE {META_TABLE} (scale int, fingerprint text, built_at timestamptz, "
            "counts jsonb)"
        )
        conn.execute(
            f"INSERT INTO {META_TABLE} VALUES (%s, %s, now(), %s)",  # noqa: S608
            [scale, _fingerprint(scale), json.dumps(loader.counts)],
        )
        conn.commit()
    # The load ran as `replica`, without triggers: the dashboard's tallies count it now.
    from console.services import recount_dashboard

    log("dataset: counting the dashboard's tallies")
    recount_dashboard()
    return loader.counts


def analyze(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def ensure(scale: int, *, rebuild: bool = False) -> dict:
    """Build `bench_<scale>` unless an up-to-date one exists; migrate and analyze it."""
    import django

    database = database_name(scale)
    os.environ.update(bench_env(database))
    django.setup()
    from django.core.management import call_command

    dsn = f"{PG_SERVER}/{database}"
    started = time.monotonic()
    built = False
    if rebuild or _stored_fingerprint(dsn) != _fingerprint(scale):
        log(f"dataset: building {database} with {scale:,} contacts (COPY, the project's hashing)")
        build(scale, dsn)
        built = True
    else:
        log(f"dataset: reusing {database}; applying new migrations")
        call_command("migrate", "--noinput", verbosity=0)
    log("dataset: VACUUM ANALYZE")
    analyze(dsn)
    with psycopg.connect(dsn) as conn:
        counts = conn.execute(f"SELECT counts FROM {META_TABLE}").fetchone()[0]  # noqa: S608
        sizes = dict(
            conn.execute(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname = ANY(%s)",
                [list(TABLES)],
            ).fetchall()
        )
    return {
        "database": database,
        "scale": scale,
        "built": built,
        "seconds": time.monotonic() - started,
        "counts": counts,
        "rows": sizes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="build even if up to date")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = ensure(args.scale, rebuild=args.rebuild)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
