"""Telling integrations (issue 27): what an endpoint costs a consent, deliveries per second,
and reading the change feed, each against a baseline measured in the same run.

1. `record_consent` with 3 enabled endpoints against none (interleaved blocks of calls on
   the same contacts' kind, each its own transaction): target ≤ 1.10×.
2. Deliveries to a local receiver (its own process, http.server), by one process calling
   `integrations.delivery.deliver` batch after batch (claim, sign, POST, log, settle),
   against a bare HTTP POST loop of the same bodies from the same process: target
   ≥ 1,000/s or ≤ 2× bare (per worker; the production figure multiplies by the workers).
3. The feed: `scale` changes (1,000,000 in `make bench`) read with the cursor, 1,000 a
   page (`read_feed`: the payloads the API answers), against a bare
   indexed range scan of the same columns by id: target ≤ 3×.

Database `bench_integrations` (recreated). Redis: BENCH_REDIS_URL (flushed).

    .venv/bin/python bench/integrations.py --scale 100000
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PG_SERVER,
    PYTHON,
    bench_env,
    free_port,
    hook_main,
    loadavg,
    log,
    recreate_database,
)

DATABASE = os.environ.get("BENCH_INTEGRATIONS_DATABASE", "bench_integrations")
CONSENTS = 600
BLOCK = 50
DELIVERIES = 2000
ROUNDS = 3
PAGE = 1000

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def run(scale: int) -> list[dict]:
    recreate_database(DATABASE)
    os.environ.update(bench_env(DATABASE))
    os.environ["WEBHOOK_ALLOW_PRIVATE_URLS"] = "true"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    port = free_port()
    receiver = subprocess.Popen([PYTHON, "-c", RECEIVER, str(port)])
    time.sleep(1)
    try:
        rows = [_consent_cost(port), _deliveries(port)]
    finally:
        receiver.terminate()
    rows.append(_feed(scale))
    return rows


def _consent_cost(port: int) -> dict:
    from consent.services import record_consent
    from integrations.models import WebhookEndpoint
    from integrations.services import register_endpoint
    from tests.factories import ContactFactory, NoticeFactory

    notice = NoticeFactory(purpose="marketing", language="en", version=1)
    contacts = [ContactFactory() for _ in range(CONSENTS * 2)]
    endpoints = [
        register_endpoint(url=f"http://127.0.0.1:{port}/{n}", events=["consent.changed"])
        for n in range(3)
    ]
    WebhookEndpoint.objects.update(enabled=False)
    timings: dict[bool, float] = {False: 0.0, True: 0.0}
    todo = iter(contacts)
    log(f"integrations: record_consent, 0 vs 3 endpoints (load {loadavg()})")
    for block in range(CONSENTS * 2 // BLOCK):
        with_endpoints = block % 2 == 1
        WebhookEndpoint.objects.filter(pk__in=[e.pk for e in endpoints]).update(
            enabled=with_endpoints
        )
        start = time.perf_counter()
        for _ in range(BLOCK):
            record_consent(
                contact=next(todo),
                purpose="marketing",
                action="grant",
                source="api",
                notice=notice,
            )
        timings[with_endpoints] += time.perf_counter() - start
    ratio = timings[True] / timings[False]
    per_call = timings[True] / CONSENTS * 1000
    return _row(
        "record_consent with 3 enabled endpoints, ms per call",
        per_call,
        "ms",
        timings[False] / CONSENTS * 1000,
        "the same with none, ms",
        "≤ 1.10× none",
        ratio <= 1.10,
    )


def _deliveries(port: int) -> dict:
    import statistics

    from tests.factories import ContactFactory

    contacts = [ContactFactory().pk for _ in range(DELIVERIES)]
    log(f"integrations: bare POST loop vs deliver(), {ROUNDS} rounds (load {loadavg()})")
    bare_rates, rates = [], []
    for _ in range(ROUNDS):
        bare_rate, rate = _delivery_round(port, contacts)
        bare_rates.append(bare_rate)
        rates.append(rate)
    bare_rate, rate = statistics.median(bare_rates), statistics.median(rates)
    return _row(
        "webhook deliveries per second, one process (median of rounds)",
        rate,
        "/s",
        bare_rate,
        "bare HTTP POST loop, /s",
        "≥ 1,000/s or ≤ 2× bare",
        rate >= 1000 or bare_rate / rate <= 2,
        ratio=bare_rate / rate,
    )


def _delivery_round(port: int, contacts: list) -> tuple[float, float]:
    """One round: a consent change of each contact owed to a fresh endpoint, POSTed by a
    bare loop, then delivered by `deliver` (claim, sign, POST, log, settle)."""
    import httpx
    from django.db import connection, transaction

    from integrations import delivery
    from integrations.models import ChangeType, Delivery, WebhookEndpoint
    from integrations.services import record_change

    WebhookEndpoint.objects.all().delete()
    endpoint = WebhookEndpoint.objects.create(
        url=f"http://127.0.0.1:{port}/hook", events=["consent.changed"], enabled=False
    )
    with transaction.atomic():
        changes = [
            record_change(
                type=ChangeType.CONSENT_CHANGED,
                contact_id=contact_id,
                data={"purpose": "marketing", "action": "withdraw"},
            )
            for contact_id in contacts
        ]
        Delivery.objects.bulk_create(
            Delivery(endpoint=endpoint, change=c, contact_id=c.contact_id, sequence=c.sequence)
            for c in changes
        )
    WebhookEndpoint.objects.update(enabled=True)
    # Statistics, as autovacuum keeps them within a minute of a burst: the claim's order
    # check plans from them (on a table never analysed it scans every owed row per row).
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Delivery._meta.db_table}")
    bodies = [c.payload() for c in changes]
    with httpx.Client() as client:
        start = time.perf_counter()
        for body in bodies:
            client.post(f"http://127.0.0.1:{port}/hook", json=body)
        bare = time.perf_counter() - start
    start = time.perf_counter()
    while delivery.deliver(endpoint.pk).claimed:
        pass
    ours = time.perf_counter() - start
    delivered = Delivery.objects.filter(status="delivered").count()
    if delivered != DELIVERIES:
        raise SystemExit(f"only {delivered} of {DELIVERIES} delivered")
    return DELIVERIES / bare, DELIVERIES / ours


def _feed(scale: int) -> dict:
    import psycopg

    from integrations.feed import START
    from integrations.selectors import read_feed

    log(f"integrations: writing {scale:,} changes (load {loadavg()})")
    dsn = f"{PG_SERVER}/{DATABASE}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE integrations_change CASCADE")
        conn.execute(
            """
            INSERT INTO integrations_change (event_id, type, contact_id, sequence, data,
                                             created_at, txid)
            SELECT gen_random_uuid(), 'consent.changed', NULL, NULL,
                   jsonb_build_object('purpose', 'marketing', 'topic', NULL,
                       'action', 'withdraw', 'status_before', 'opted_in',
                       'status_after', 'opted_out', 'applied', true, 'source', 'api',
                       'event', gen_random_uuid()::text, 'occurred_at', now()),
                   now(), 1000 + i / 10
            FROM generate_series(1, %s) i
            """,
            [scale],
        )
        conn.execute("VACUUM ANALYZE integrations_change")
        log(f"integrations: bare range scan (load {loadavg()})")
        start = time.perf_counter()
        last, seen = 0, 0
        with conn.cursor() as cursor:
            while True:
                cursor.execute(
                    "SELECT id, event_id, type, contact_id, sequence, data, created_at, txid "
                    "FROM integrations_change WHERE id > %s ORDER BY id LIMIT %s",
                    [last, PAGE],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                seen += len(rows)
                last = rows[-1][0]
        bare = time.perf_counter() - start
    log(f"integrations: the feed with its cursor (load {loadavg()})")
    start = time.perf_counter()
    cursor_at, read = START, 0
    while True:
        page, cursor_at = read_feed(after=cursor_at, limit=PAGE)
        if not page:
            break
        read += len(page)
        cursor_at.encode()
    ours = time.perf_counter() - start
    if read != scale or seen != scale:
        raise SystemExit(f"read {read} and {seen} of {scale} changes")
    return _row(
        f"change feed, {scale:,} changes read with the cursor, s",
        ours,
        "s",
        bare,
        "bare indexed range scan by id, s",
        "≤ 3× bare",
        ours / bare <= 3,
    )


def _row(name, figure, unit, baseline, label, target, met, ratio=None) -> dict:
    return {
        "name": name,
        "figure": round(figure, 3),
        "unit": unit,
        "baseline": round(baseline, 3),
        "baseline_label": label,
        "ratio": round(ratio if ratio is not None else figure / baseline, 2),
        "target": target,
        "met": met,
        "load": loadavg(),
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    sys.exit(hook_main(run, __doc__.split("\n\n")[0]))
