"""The million-contact benchmarks on the shared dataset (bench/dataset.py).

Each figure stands beside a baseline measured in the same run, on the same rows:
- preview: `preview_campaign` vs one hand-written `GROUP BY` of the same reasons;
- fan-out: `fan_out_campaign` vs one bare `INSERT … SELECT` of the same rows into
  the same table (the table is emptied between runs, which alternate);
- admin and API list pages: server time (in-process client) vs a bare `count(*)`;
- verify: `verify_ledger` vs SHA-256 and links in one SQL statement over the same rows
  (the bare psycopg loop hashing them in Python is reported beside it);
- rebuild: `rebuild_states(write=False)` vs one SQL statement comparing each state with
  its last applied event (the bare psycopg loop weighing the same rows beside it);
- record_consent: events/s from 1 and 4 processes vs bare INSERT + COMMIT, recording as the
  API does (audited, 3 enabled webhook endpoints): statements and round trips per event
  (PostgreSQL: BEGIN; the lock and the read; the event's write with its evidence, state and
  audit row, then the change and its deliveries, with the pipeline's end; COMMIT); and the
  same with the dashboard's tally triggers against without them (issue 23).

Run alone: .venv/bin/python bench/scale.py --scale 100000 [--only preview] [--json f]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import (
    PG_SERVER,
    REDIS_URL,
    bench_env,
    loadavg,
    log,
    print_rows,
    round_trips,
)
from bench.dataset import database_name, phone_of

BENCHES = ("preview", "fan_out", "pages", "verify", "rebuild", "record_consent")

# record_consent as the API records it: a staff actor, audited, and enabled endpoints.
BENCH_ACTOR = "bench-recorder"
RECORDING_ENDPOINTS = 3
# Ours and the floor alternate this many times, each for a share of the duration.
RECORDING_ROUNDS = 3
TALLY_EVENTS, TALLY_BLOCK = 1200, 100
TALLY_TRIGGERS = (
    "console_tally_states_insert",
    "console_tally_states_update",
    "console_tally_states_delete",
)


def row(name, figure, unit, baseline, baseline_label, target, met, ratio=None, **extra) -> dict:
    if ratio is None and baseline:
        ratio = figure / baseline
    return {
        "name": name,
        "figure": round(figure, 4),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 4),
        "baseline_label": baseline_label,
        "ratio": None if ratio is None else round(ratio, 2),
        "target": target,
        "met": met,
        "load": loadavg(),
        **extra,
    }


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


class Bench:
    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.database = database_name(scale)
        self.dsn = f"{PG_SERVER}/{self.database}"
        self.big = scale >= 1_000_000

    def sql(self, statement: str, params=None, *, fetch: bool = True):
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if fetch and cur.description else None

    # --- preview -------------------------------------------------------------------

    def campaign(self, name: str, *, tag: str | None = None, status: str = "draft"):
        from campaigns.models import Campaign
        from contacts.models import Tag

        Campaign.objects.filter(name=name).delete()
        campaign = Campaign.objects.create(
            name=name,
            kind="marketing",
            purpose="marketing",
            template_name="bench_offer",
            status=status,
        )
        if tag:
            campaign.audience_tags.add(Tag.objects.get(name=tag))
        return campaign

    def preview(self) -> list[dict]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from campaigns.selectors import preview_campaign
        from contacts.models import Tag

        rows = []
        spring = Tag.objects.get(name="spring").pk
        for label, tag in (("whole audience", None), ("tag `spring` (21 %)", "spring")):
            campaign = self.campaign(f"bench preview {label}", tag=tag)
            at = datetime.now(UTC)
            where = (
                "AND c.id IN (SELECT contact_id FROM contacts_contact_tags "
                f"WHERE tag_id = {spring})"
                if tag
                else ""
            )
            bare_sql = BARE_PREVIEW.format(tag=where)
            ours, bare, result, counted = [], [], None, None
            for _ in range(3):
                seconds, result = timed(preview_campaign, campaign=campaign, at=at)
                ours.append(seconds)
                seconds, counted = timed(self.sql, bare_sql, {"at": at})
                bare.append(seconds)
            with CaptureQueriesContext(connection) as queries:
                preview_campaign(campaign=campaign, at=at)
            same = _same_counts(result, counted)
            ours_s, bare_s = statistics.median(ours), statistics.median(bare)
            ratio = ours_s / bare_s
            rows.append(
                row(
                    f"preview, {label}: {result.total:,} contacts",
                    ours_s,
                    "s",
                    bare_s,
                    "bare GROUP BY of the same reasons, s",
                    "< 2 s and ≤ 3× bare; same counts",
                    ours_s < 2 and ratio <= 3 and same,
                    queries=len(queries.captured_queries),
                    same_counts=same,
                    eligible=result.eligible,
                    ineligible=result.ineligible,
                )
            )
        return rows

    # --- fan-out ---------------------------------------------------------------------

    def fan_out(self) -> list[dict]:
        import redis

        from campaigns.models import Message
        from campaigns.services import fan_out_campaign

        broker = redis.Redis.from_url(REDIS_URL)
        columns, values = _bare_message_columns()
        ours, bare, queued, batches, pages = [], [], 0, 0, []
        rounds = 2 if self.big else 3
        for round_ in range(rounds):
            for which in ("ours", "bare") if round_ % 2 == 0 else ("bare", "ours"):
                self.sql("TRUNCATE campaigns_message", fetch=False)
                self.sql("VACUUM ANALYZE campaigns_message", fetch=False)
                broker.flushdb()
                campaign = self.campaign(f"bench fan-out {which}", status="launched")
                if which == "ours":
                    seconds, batches = timed(fan_out_campaign, campaign_id=campaign.pk)
                    ours.append(seconds)
                    queued = Message.objects.filter(campaign=campaign).count()
                    if round_ == 0:
                        self.sql("VACUUM ANALYZE campaigns_message", fetch=False)
                        pages = self.page_rows(CAMPAIGN_PAGES, f"{queued:,} messages")
                else:
                    sql = (
                        f"INSERT INTO campaigns_message ({', '.join(columns)}, contact_id) "
                        f"SELECT {', '.join(['%s'] * len(columns))}, c.id FROM contacts_contact c "
                        "WHERE c.erased_at IS NULL"
                    )
                    seconds, _ = timed(self.sql, sql, [campaign.pk, *values], fetch=False)
                    bare.append(seconds)
        broker.flushdb()
        ours_s, bare_s = statistics.median(ours), statistics.median(bare)
        ratio = ours_s / bare_s
        return pages + [
            row(
                f"fan-out: {queued:,} messages queued, {batches:,} send batches",
                ours_s,
                "s",
                bare_s,
                "bare INSERT … SELECT of the same rows, s",
                "≤ 1.5× bare",
                ratio <= 1.5 and queued == self.scale,
                runs=ours,
                bare_runs=bare,
            )
        ]

    # --- admin and API pages ---------------------------------------------------------

    def clients(self):
        from django.contrib.auth import get_user_model
        from django.test import Client

        from api.models import ApiKey

        user_model = get_user_model()
        admin = user_model.objects.filter(username="bench-admin").first()
        if admin is None:
            admin = user_model.objects.create_superuser("bench-admin", "bench@example.com", "b")
        staff = Client()
        staff.force_login(admin)
        _, key = ApiKey.objects.create_key(
            name="bench pages", scopes=["contacts:read", "consent:read", "campaigns:read"]
        )
        api = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_ACCEPT="application/json")
        return {"admin": staff, "API": api}

    def page_rows(self, pages: list[tuple[str, str, str]], about: str = "") -> list[dict]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from bench.middleware import SERVER_TIME_HEADER

        clients = self.clients()
        counts = [timed(self.sql, "SELECT count(*) FROM contacts_contact")[0] for _ in range(5)]
        floor = statistics.median(counts)
        rows = []
        for kind, label, url in pages:
            client = clients[kind]
            times = []
            for attempt in range(6):
                response = client.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}")
                if attempt:
                    times.append(int(response[SERVER_TIME_HEADER]) / 1e6)
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
            seconds = statistics.median(times)
            rows.append(
                row(
                    f"{kind}: {label}{f' ({about})' if about else ''}",
                    seconds, "s", floor, "bare count(*) of contacts, s", "< 1 s",
                    seconds < 1, queries=len(queries.captured_queries), url=url,
                )
            )  # fmt: skip
        return rows

    def pages(self) -> list[dict]:
        phone = phone_of(self.scale // 2)
        national = "0" + phone[3:6] + " " + phone[6:]
        return self.page_rows(
            [
                ("admin", "contacts list", "/admin/contacts/contact/"),
                ("admin", "contacts, marketing = opted in",
                 "/admin/contacts/contact/?marketing_consent=opted_in"),
                ("admin", "contacts, marketing = no consent",
                 "/admin/contacts/contact/?marketing_consent=none"),
                ("admin", "phone search, E.164", f"/admin/contacts/contact/?q={phone}"),
                ("admin", "phone search, national", f"/admin/contacts/contact/?q={national}"),
                ("admin", "consent events list", "/admin/consent/consentevent/"),
                ("API", "contacts list", "/api/v1/contacts/"),
                ("API", "contacts, marketing = no consent", "/api/v1/contacts/?marketing=none"),
                ("API", "contacts by phone", f"/api/v1/contacts/?phone={phone}"),
                ("API", "consent events list", "/api/v1/consent-events/"),
            ]
        )  # fmt: skip

    # --- verify and rebuild ----------------------------------------------------------

    def verify(self) -> list[dict]:
        from consent.verification import verify_ledger

        # Floor and product alternate, best of two each: on a shared machine one run
        # can land on a busy second.
        floors, ours = [], {1: [], 2: []}
        for _ in range(2):
            floor_s, (hashed, mismatched) = timed(_sql_hash_floor, self.dsn)
            if mismatched:
                raise SystemExit(f"the SQL floor finds {mismatched} rows wrong: ledger broken")
            floors.append(floor_s)
            for workers in (1, 2):
                ours[workers].append(timed(verify_ledger, workers=workers))
        floor_s = min(floors)
        loop_s = None if self.big else round(timed(_bare_hash_loop, self.dsn)[0], 3)
        rows = []
        for workers in (1, 2):
            seconds, result = min(ours[workers], key=lambda timing: timing[0])
            ratio = seconds / floor_s
            rows.append(
                row(
                    f"verify_ledger --workers {workers}: {result.events:,} events, "
                    f"{result.chains:,} chains",
                    seconds,
                    "s",
                    floor_s,
                    "SHA-256 and links in one SQL statement, s",
                    "≤ 2× the SQL floor; nothing broken",
                    ratio <= 2 and result.valid and result.events == hashed,
                    baseline_method=SQL_FLOOR_METHOD,
                    python_loop_s=loop_s,
                    rounds=2,
                    events_per_s=round(result.events / seconds),
                    broken=len(result.broken),
                )
            )
        return rows

    def rebuild(self) -> list[dict]:
        from consent.verification import rebuild_states

        floor_s, (compared, mismatched) = timed(_sql_state_floor, self.dsn)
        loop_s, weighed = timed(_bare_replay_loop, self.dsn)
        rows = []
        for workers in (1, 2):
            seconds, differences = timed(rebuild_states, write=False, workers=workers)
            rows.append(
                row(
                    f"rebuild_consent_state --check --workers {workers}: {weighed:,} events",
                    seconds,
                    "s",
                    floor_s,
                    "one SQL statement comparing each state with its last applied event, s",
                    "reported: 0 differences (the floor does not replay the ordering rules)",
                    not differences,
                    baseline_method="DISTINCT ON (contact, purpose) the last applied event by "
                    "seq, FULL JOIN the states, count the rows that differ "
                    f"({compared:,} compared, {mismatched} differ)",
                    python_loop_s=round(loop_s, 3),
                    differences=len(differences),
                )
            )
        return rows

    # --- record_consent --------------------------------------------------------------

    def record_consent(self) -> list[dict]:
        seconds = 8.0 if self.big else 4.0
        # More than a process records in the time given (a few hundred a second here).
        per_process = 20_000 if self.big else 4_000
        contact_ids = self._throughput_contacts(4 * per_process + 2 * TALLY_EVENTS)
        self.sql(
            "CREATE TABLE IF NOT EXISTS bench_insert_floor "
            "(id bigserial PRIMARY KEY, contact uuid, at timestamptz, note text)",
            fetch=False,
        )
        self._recording_set_up()
        rows = []
        try:
            for processes in (1, 4):
                ours, bare = self._alternating(contact_ids, processes, per_process, seconds)
                rows.append(
                    row(
                        f"record_consent, {processes} process{'es' if processes > 1 else ''}: "
                        "events/s, distinct contacts",
                        ours["rate"],
                        "events/s",
                        bare["rate"],
                        "bare INSERT + COMMIT per s",
                        "≤ 3× a bare INSERT + COMMIT per event",
                        bare["rate"] / ours["rate"] <= 3,
                        ratio=bare["rate"] / ours["rate"],
                        baseline_method="psycopg, autocommit, one INSERT of a row per event "
                        f"into a plain table, from {processes} process(es) as ours; the two "
                        f"alternate in {RECORDING_ROUNDS} rounds",
                        writes="the event, its evidence, the state, the dashboard tallies "
                        f"(triggers), the staff audit row, the change and {RECORDING_ENDPOINTS} "
                        "deliveries (enabled endpoints)",
                        statements=ours["statements"],
                        round_trips=ours["round_trips"],
                        bare_round_trips=1,
                    )
                )
            rows.append(self._tally_cost(contact_ids[4 * per_process :]))
        finally:
            self._recording_clean_up()
            self._drop_throughput_contacts()
        return rows

    def _alternating(self, contact_ids, processes: int, per_process: int, seconds: float):
        """Ours and the floor in alternate rounds (the machine's load moves under both
        alike), each round on contacts of its own; the rates over all rounds."""
        totals = {"ours": [0, 0.0], "bare": [0, 0.0]}
        found: dict = {}
        share = per_process // RECORDING_ROUNDS
        for n in range(RECORDING_ROUNDS):
            slices = [
                contact_ids[i * per_process + n * share : i * per_process + (n + 1) * share]
                for i in range(processes)
            ]
            found = _in_processes(_record_loop, slices, seconds / RECORDING_ROUNDS)
            bare = _in_processes(
                _insert_loop, [(self.dsn, s) for s in slices], seconds / RECORDING_ROUNDS
            )
            for side, result in (("ours", found), ("bare", bare)):
                totals[side][0] += result["done"]
                totals[side][1] += result["elapsed"]
        ours = {**found, "rate": totals["ours"][0] / totals["ours"][1]}
        return ours, {"rate": totals["bare"][0] / totals["bare"][1]}

    def _recording_set_up(self) -> None:
        from django.contrib.auth.models import User

        from integrations.models import WebhookEndpoint

        User.objects.get_or_create(username=BENCH_ACTOR)
        WebhookEndpoint.objects.filter(description=BENCH_ACTOR).delete()
        for n in range(RECORDING_ENDPOINTS):
            # Never called: no worker runs, and the broker is the bench's (flushed).
            WebhookEndpoint.objects.create(
                url=f"http://127.0.0.1:9/bench/{n}",
                events=["consent.changed"],
                description=BENCH_ACTOR,
            )

    def _recording_clean_up(self) -> None:
        from integrations.models import WebhookEndpoint

        WebhookEndpoint.objects.filter(description=BENCH_ACTOR).delete()
        self._tally_triggers("ENABLE")

    def _tally_triggers(self, switch: str) -> None:
        # Bench-only: the dashboard's tally triggers off, to weigh what they cost.
        for trigger in TALLY_TRIGGERS:
            self.sql(f"ALTER TABLE consent_consentstate {switch} TRIGGER {trigger}", fetch=False)

    def _tally_cost(self, contact_ids: list[str]) -> dict:
        """Issue 23: record_consent with the dashboard's counters kept exact (the triggers)
        against the same without them, interleaved blocks in one process."""
        from django.db import connections

        spent = {True: 0.0, False: 0.0}
        blocks = [contact_ids[i : i + TALLY_BLOCK] for i in range(0, len(contact_ids), TALLY_BLOCK)]
        for n, block in enumerate(blocks):
            with_tallies = n % 2 == 0
            self._tally_triggers("ENABLE" if with_tallies else "DISABLE")
            connections.close_all()
            spent[with_tallies] += _record_block(block)
        self._tally_triggers("ENABLE")
        ratio = spent[True] / spent[False]
        per_event = {k: v / (len(contact_ids) / 2) * 1000 for k, v in spent.items()}
        return row(
            "record_consent with the dashboard counters exact, ms per event",
            per_event[True],
            "ms",
            per_event[False],
            "the same without the tally triggers, ms",
            "≤ 1.10× without",
            ratio <= 1.10,
            ratio=ratio,
            baseline_method="the same calls (audited, endpoints enabled) in alternate blocks of "
            f"{TALLY_BLOCK} with console's tally triggers disabled",
        )

    def _throughput_contacts(self, count: int) -> list[str]:
        """Fresh contacts for the throughput run (removed afterwards): no ledger yet."""
        from contacts.models import Contact
        from contacts.phones import phone_hash

        self._drop_throughput_contacts()
        contacts = []
        for i in range(count):
            phone = f"+4475{90_000_000 + i:08d}"
            contacts.append(
                Contact(
                    phone=phone,
                    phone_hash=phone_hash(phone),
                    wa_id=phone[1:],
                    name="bench throughput",
                    attributes={"bench": "throughput"},
                )
            )
        Contact.objects.bulk_create(contacts, batch_size=5000)
        return [str(c.pk) for c in contacts]

    def _drop_throughput_contacts(self) -> None:
        # Bench-only clean-up: the ledger is append-only, so its trigger is bypassed.
        with psycopg.connect(self.dsn) as conn:
            conn.execute("SET session_replication_role = replica")
            ids = "SELECT id FROM contacts_contact WHERE name = 'bench throughput'"
            conn.execute(f"DELETE FROM consent_consentstate WHERE contact_id IN ({ids})")
            conn.execute(
                f"DELETE FROM consent_outrankedoptout WHERE event_id IN "
                f"(SELECT id FROM consent_consentevent WHERE contact_id IN ({ids}))"
            )
            conn.execute(
                "DELETE FROM consent_consentevidence WHERE event_id IN "
                f"(SELECT id FROM consent_consentevent WHERE contact_id IN ({ids}))"
            )
            conn.execute(f"DELETE FROM consent_consentevent WHERE contact_id IN ({ids})")
            conn.execute(f"DELETE FROM integrations_delivery WHERE contact_id IN ({ids})")
            conn.execute(f"DELETE FROM integrations_change WHERE contact_id IN ({ids})")
            conn.execute(
                "DELETE FROM staff_auditentry WHERE actor_user_id IN "
                f"(SELECT id FROM auth_user WHERE username = '{BENCH_ACTOR}')"
            )
            conn.execute(f"DELETE FROM contacts_contact WHERE id IN ({ids})")
            conn.execute("DROP TABLE IF EXISTS bench_insert_floor")
            conn.commit()


# Measured right after a fan-out, with its messages in the table.
CAMPAIGN_PAGES = [
    ("admin", "campaigns list with counts per status", "/admin/campaigns/campaign/"),
    ("admin", "campaign messages list", "/admin/campaigns/message/"),
    ("API", "campaigns list with counts", "/api/v1/campaigns/"),
]

BARE_PREVIEW = """
SELECT CASE
    WHEN s.status = 'opted_in' THEN 'opted_in'
    WHEN s.status = 'legacy' AND s.expires_at <= %(at)s THEN 'legacy_expired'
    WHEN s.status = 'legacy' THEN 'legacy_grace_period'
    WHEN s.status = 'paused' AND s.paused_until <= %(at)s THEN 'opted_in'
    WHEN s.status = 'paused' THEN 'paused'
    WHEN s.status = 'opted_out' THEN 'opted_out'
    WHEN s.status = 'pending' THEN 'pending_confirmation'
    WHEN s.status = 'expired' THEN 'legacy_expired'
    ELSE 'no_consent' END,
  coalesce(c.wa_id, '') <> '' OR coalesce(c.phone, '') <> '',
  count(*)
FROM contacts_contact c
LEFT JOIN consent_consentstate s ON s.contact_id = c.id AND s.purpose = 'marketing'
WHERE c.erased_at IS NULL {tag}
GROUP BY 1, 2
"""


def _same_counts(preview, grouped) -> bool:
    from consent.selectors import ALLOWED_BY_REASON

    eligible, ineligible = {}, {}
    for reason, addressable, n in grouped:
        if not ALLOWED_BY_REASON[reason]:
            ineligible[reason] = ineligible.get(reason, 0) + n
        elif not addressable:
            ineligible["no_whatsapp_address"] = ineligible.get("no_whatsapp_address", 0) + n
        else:
            eligible[reason] = eligible.get(reason, 0) + n
    return eligible == preview.eligible_reasons and ineligible == preview.ineligible


def _bare_message_columns() -> tuple[list[str], list]:
    from django.db import connection

    from campaigns.models import Message

    columns, values = ["campaign_id"], []
    for field in Message._meta.concrete_fields:
        if field.primary_key or field.name in ("campaign", "contact"):
            continue
        value = field.get_default()
        if value is not None:
            columns.append(field.column)
            values.append(field.get_db_prep_save(value, connection))
    return columns, values


def _ledger_select() -> str:
    from consent.chain import CHAINED_FIELDS
    from consent.models import ConsentEvent

    columns = []
    for name in (*CHAINED_FIELDS, "hash"):
        field = ConsentEvent._meta.get_field(name)
        uuid_like = field.get_internal_type() == "UUIDField" or name == "contact"
        columns.append(f"{field.column}::text" if uuid_like else field.column)
    return f"SELECT {', '.join(columns)} FROM consent_consentevent ORDER BY contact_id, seq"


SQL_FLOOR_METHOD = (
    "one statement: the canonical JSON text of every event written out with to_json and "
    "to_char (context as jsonb text: every bench context is {}), sha256(), and the links "
    "by row_number() and lag() over (contact, seq); one count back"
)
# The canonical text of a form-3 event, written out by hand (keys sorted, as json.dumps).
_TEXT = "coalesce(to_json({c})::text, 'null')"
_TIME = (
    "coalesce('\"' || to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
    "|| '+00:00\"', 'null')"
)
_INT = "coalesce({c}::text, 'null')"
_UUID = "'\"' || {c}::text || '\"'"
_FLOOR_FIELDS = {
    "action": (_TEXT, "action"),
    "actor": (_INT, "actor_id"),
    "applied": (_TEXT, "applied"),
    "contact": (_UUID, "contact_id"),
    "context": ("{c}::text", "context"),
    "evidence_digest": (_TEXT, "evidence_digest"),
    "expires_at": (_TIME, "expires_at"),
    "form": (_INT, "form"),
    "id": (_UUID, "id"),
    "idempotency_key": (_TEXT, "idempotency_key"),
    "notice": (_INT, "notice_id"),
    "occurred_at": (_TIME, "occurred_at"),
    "paused_until": (_TIME, "paused_until"),
    "prev_hash": (_TEXT, "prev_hash"),
    "prompted_by_wamid": (_TEXT, "prompted_by_wamid"),
    "purpose": (_TEXT, "purpose"),
    "recorded_at": (_TIME, "recorded_at"),
    "seq": (_INT, "seq"),
    "source": (_TEXT, "source"),
    "status_after": (_TEXT, "status_after"),
    "topic": (_TEXT, "topic"),
    "wamid": (_TEXT, "wamid"),
}


def _sql_hash_floor(dsn: str) -> tuple[int, int]:
    """The floor of verify_ledger: hashing and links in the database; (events, rows wrong)."""
    text = " || ',' || ".join(
        f"'\"{name}\":' || {shape.format(c=column)}"
        for name, (shape, column) in sorted(_FLOOR_FIELDS.items())
    )
    sql = f"""
        SELECT count(*), count(*) FILTER (WHERE NOT ok) FROM (
            SELECT seq = row_number() OVER chain
                   AND prev_hash IS NOT DISTINCT FROM lag(hash) OVER chain
                   AND encode(sha256(convert_to('{{' || {text} || '}}', 'UTF8')), 'hex') = hash
                   AS ok
            FROM consent_consentevent
            WINDOW chain AS (PARTITION BY contact_id ORDER BY seq)
        ) checked
    """
    with psycopg.connect(dsn) as conn:
        events, wrong = conn.execute(sql).fetchone()
    return events, wrong


def _bare_hash_loop(dsn: str) -> int:
    """The floor: the same rows, one server-side cursor, chained_hash, compare; no checks."""
    from consent.chain import CHAINED_FIELDS, chained_hash

    context_at = CHAINED_FIELDS.index("context")
    done = 0
    with psycopg.connect(dsn) as conn, conn.cursor(name="bench_hash") as cur:
        cur.itersize = 5000
        cur.execute(_ledger_select())
        for values in cur:
            values = list(values)
            values[context_at] = (
                json.loads(values[context_at])
                if isinstance(values[context_at], str)
                else values[context_at]
            )
            if chained_hash(dict(zip(CHAINED_FIELDS, values, strict=False))) != values[-1]:
                raise SystemExit("bench ledger does not verify")
            done += 1
    return done


def _sql_state_floor(dsn: str) -> tuple[int, int]:
    """The floor of a rebuild check: each state against its last applied event, in SQL."""
    sql = """
        SELECT count(*), count(*) FILTER (
            WHERE s.last_event_id IS DISTINCT FROM l.id OR s.status IS DISTINCT FROM l.status_after
        )
        FROM (
            SELECT DISTINCT ON (contact_id, purpose) contact_id, purpose, id, status_after
            FROM consent_consentevent WHERE applied ORDER BY contact_id, purpose, seq DESC
        ) l
        FULL JOIN consent_consentstate s ON s.contact_id = l.contact_id AND s.purpose = l.purpose
    """
    with psycopg.connect(dsn) as conn:
        compared, mismatched = conn.execute(sql).fetchone()
    return compared, mismatched


def _bare_replay_loop(dsn: str) -> int:
    """The floor of a rebuild: the same events, one cursor, `weigh` per event; no comparing."""
    from consent.ordering import Standing, effective_time, tie_window, weigh
    from consent.rules import IllegalTransition

    tie = tie_window()
    done = 0
    with psycopg.connect(dsn) as conn, conn.cursor(name="bench_replay") as cur:
        cur.itersize = 5000
        cur.execute(
            "SELECT contact_id::text, purpose, action, occurred_at, recorded_at "
            "FROM consent_consentevent ORDER BY contact_id, seq"
        )
        current, standing = None, {}
        for contact, purpose, action, occurred, recorded in cur:
            if contact != current:
                current, standing = contact, {}
            try:
                weighed = weigh(
                    standing.get(purpose, Standing()),
                    action,
                    effective_time(occurred, recorded),
                    tie=tie,
                    purpose=purpose,
                )
            except IllegalTransition:
                continue
            if weighed.applied:
                standing[purpose] = weighed.standing
            done += 1
    return done


def _in_processes(target, args_per_process: list, seconds: float) -> dict:
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 1.0
    processes = [
        context.Process(target=target, args=(arg, start_at, seconds, results))
        for arg in args_per_process
    ]
    for process in processes:
        process.start()
    found = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    done = sum(f["done"] for f in found)
    elapsed = max(f["elapsed"] for f in found)
    return {
        "done": done,
        "elapsed": elapsed,
        "rate": done / elapsed,
        "statements": max(f.get("statements", 0) for f in found),
        "round_trips": max(f.get("round_trips", 0) for f in found),
    }


def _record_loop(contact_ids: list[str], start_at: float, seconds: float, results) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from consent.models import ConsentNotice
    from consent.services import Evidence, record_consent
    from contacts.models import Contact

    contacts = list(Contact.objects.filter(pk__in=contact_ids).order_by("pk"))
    notice = ConsentNotice.objects.get(purpose="service", topic=None, language="en", version=1)
    evidence = Evidence(ip="203.0.113.7", user_agent="bench", note="bench throughput")
    # As the API records: an actor, audited; the endpoints of RECORDING_ENDPOINTS enabled.
    actor = User.objects.get(username=BENCH_ACTOR)

    def record(contact) -> None:
        record_consent(
            contact=contact,
            purpose="service",
            action="grant",
            notice=notice,
            source="api",
            evidence=evidence,
            actor=actor,
            audited=True,
        )

    with CaptureQueriesContext(connection) as queries:
        record(contacts[0])
    transaction_control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    statements = sum(
        1 for q in queries.captured_queries if not q["sql"].startswith(transaction_control)
    )
    trips = round_trips(connection, lambda: record(contacts[1]))
    time.sleep(max(0.0, start_at - time.time()))
    done, started = 0, time.perf_counter()
    for contact in contacts[2:]:
        record(contact)
        done += 1
        if time.perf_counter() - started >= seconds:
            break
    results.put(
        {
            "done": done,
            "elapsed": time.perf_counter() - started,
            "statements": statements,
            "round_trips": trips,
        }
    )


def _record_block(contact_ids: list[str]) -> float:
    """Seconds to record a grant for each of these contacts, in this process."""
    from django.contrib.auth.models import User

    from consent.models import ConsentNotice
    from consent.services import Evidence, record_consent
    from contacts.models import Contact

    contacts = list(Contact.objects.filter(pk__in=contact_ids))
    notice = ConsentNotice.objects.get(purpose="service", language="en", version=1)
    actor = User.objects.get(username=BENCH_ACTOR)
    evidence = Evidence(ip="203.0.113.7", user_agent="bench", note="bench tallies")
    started = time.perf_counter()
    for contact in contacts:
        record_consent(
            contact=contact,
            purpose="service",
            action="grant",
            notice=notice,
            source="api",
            evidence=evidence,
            actor=actor,
            audited=True,
        )
    return time.perf_counter() - started


def _insert_loop(arg, start_at: float, seconds: float, results) -> None:
    dsn, contact_ids = arg
    with psycopg.connect(dsn, autocommit=True) as conn:
        time.sleep(max(0.0, start_at - time.time()))
        done, started = 0, time.perf_counter()
        for contact_id in contact_ids:
            conn.execute(
                "INSERT INTO bench_insert_floor (contact, at, note) VALUES (%s, now(), %s)",
                [contact_id, "bench throughput"],
            )
            done += 1
            if time.perf_counter() - started >= seconds:
                break
    results.put({"done": done, "elapsed": time.perf_counter() - started})


def run(scale: int, only: list[str] | None = None) -> list[dict]:
    os.environ.update(bench_env(database_name(scale)))
    import django

    django.setup()
    bench = Bench(scale)
    rows: list[dict] = []
    for name in only or BENCHES:
        log(f"scale: {name} at {scale:,} contacts (load {loadavg()})")
        rows += getattr(bench, name)()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--only", action="append", choices=BENCHES)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    print_rows(run(args.scale, args.only), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
