"""The admin console at scale: the dashboard and the pages staff live in, server time and
query count, each beside a bare `SELECT count(*)` of the table it lists (same run).

- dashboard (/admin/), after the beat refresh of its snapshot (also timed, vs a bare
  count(*) of the ledger it reads);
- contacts list, contacts filtered by a consent state, a phone search (vs contacts);
- the ledger list (vs consent events).

Run alone: .venv/bin/python bench/admin_console.py --scale 100000 [--json f]
`make bench` calls `run(scale)` (bench/run_all.py).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import PG_SERVER, bench_env, hook_main, loadavg, log
from bench.dataset import database_name, phone_of

REPEAT = 5
TARGET_SECONDS = 1.0


def _row(name, figure, baseline, baseline_label, **extra) -> dict:
    return {
        "name": name,
        "figure": round(figure, 4),
        "unit": "s",
        "baseline": round(baseline, 4),
        "baseline_label": baseline_label,
        "ratio": round(figure / baseline, 2) if baseline else None,
        "target": f"< {TARGET_SECONDS:g} s, constant queries",
        "met": figure < TARGET_SECONDS,
        "load": loadavg(),
        **extra,
    }


def bare_count(dsn: str, table: str) -> float:
    """Median seconds of `SELECT count(*)` of `table` (the floor a list page is held to)."""
    times = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(REPEAT):
            start = time.perf_counter()
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def staff_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first()
    if user is None:
        user = user_model.objects.create_superuser("bench-admin", "bench@example.com", "b")
    client = Client()
    client.force_login(user)
    return client


def page(client, url: str) -> tuple[float, int]:
    """Median server time (bench.middleware) of REPEAT requests after a warm-up, and queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.middleware import SERVER_TIME_HEADER

    times = []
    for attempt in range(REPEAT + 1):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        if attempt:
            times.append(int(response[SERVER_TIME_HEADER]) / 1e6)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(times), len(queries.captured_queries)


def run(scale: int) -> list[dict]:
    database = database_name(scale)
    dsn = f"{PG_SERVER}/{database}"
    os.environ.update(bench_env(database))
    import django

    django.setup()
    from django.core.management import call_command

    from console.services import refresh_dashboard_snapshot

    call_command("migrate", "--noinput", verbosity=0)
    contacts = bare_count(dsn, "contacts_contact")
    events = bare_count(dsn, "consent_consentevent")
    rows = []

    log(f"admin console: refreshing the dashboard snapshot on {database}")
    start = time.perf_counter()
    refresh_dashboard_snapshot()
    refresh = time.perf_counter() - start
    rows.append(
        {
            **_row(
                "dashboard snapshot refresh (beat task, every 10 min)",
                refresh,
                events,
                "bare count(*) of consent events, s",
            ),
            "target": "background; not on a page",
            "met": True,
        }
    )

    client = staff_client()
    phone = phone_of(scale // 2)
    pages = [
        ("dashboard", "/admin/", events, "consent events"),
        ("contacts list", "/admin/contacts/contact/", contacts, "contacts"),
        (
            "contacts, marketing = opted in",
            "/admin/contacts/contact/?marketing_consent=opted_in",
            contacts,
            "contacts",
        ),
        ("phone search", f"/admin/contacts/contact/?q={phone}", contacts, "contacts"),
        ("ledger list", "/admin/consent/consentevent/", events, "consent events"),
    ]
    for label, url, floor, table in pages:
        seconds, queries = page(client, url)
        log(f"admin console: {label}: {seconds * 1000:.0f} ms, {queries} queries")
        rows.append(
            _row(
                f"admin console: {label}",
                seconds,
                floor,
                f"bare count(*) of {table}, s",
                queries=queries,
                url=url,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    return hook_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
