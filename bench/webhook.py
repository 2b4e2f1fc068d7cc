"""Webhook benchmark (issue 4): POST /webhooks/whatsapp/ under gunicorn, against PostgreSQL.

Each request is a real Meta-shaped delivery (text message, reply button or status
update) with its own message id, signed with WHATSAPP_APP_SECRET, so each one is
verified, stored as one InboundEvent row and covered by a task on Redis (no worker runs:
the view's work ends at the enqueue; per gunicorn process, requests within a second share
one task, `whatsapp.tasks.process_inbound_soon`). The baseline, in the same run and under the same
gunicorn settings and load, is a bare Django view that answers 200 without the
database. Afterwards: stored rows == requests sent, and at least one task enqueued, never
more than one per row.

Run: .venv/bin/python bench/webhook.py [--duration 10] [--rounds 2] [--json results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import redis

from bench.common import (
    GUNICORN_ARGS,
    PG_SERVER,
    REDIS_URL,
    bench_env,
    check_services,
    db_name,
    ensure_wrk,
    gunicorn,
    log,
    migrated_database,
)

DATABASE = db_name("webhook")
WEBHOOK_PATH = "/webhooks/whatsapp/"
BARE_PATH = "/bench/bare/"
# The queue the webhook's task is routed to (config/settings.py, CELERY_TASK_ROUTES).
INBOUND_QUEUE = "inbound"
LUA = Path(__file__).with_name("webhook.lua")
PHONE_NUMBER_ID = "106540352242922"


def delivery(index: int, run: str, at: int) -> dict:
    """Meta's shape; 70 % text messages, 20 % reply buttons, 10 % status updates."""
    wa_id = f"4474{index % 1_000_000:08d}"
    wamid = f"wamid.HBgM{run}{index:010d}FQIAEhgUM0EwRjk5QkM0NzE3RjY0QkI1NDAA"
    value: dict = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    kind = index % 10
    if kind == 9:
        value["statuses"] = [
            {
                "id": wamid,
                "status": "delivered",
                "timestamp": str(at),
                "recipient_id": wa_id,
                "conversation": {"id": f"conv{index}", "origin": {"type": "marketing"}},
                "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing"},
            }
        ]
    else:
        message: dict = {"from": wa_id, "id": wamid, "timestamp": str(at)}
        if kind >= 7:
            message["type"] = "interactive"
            message["context"] = {"from": "15550783881", "id": f"wamid.PROMPT{index:010d}"}
            message["interactive"] = {
                "type": "button_reply",
                "button_reply": {"id": "consent:marketing:grant", "title": "Yes, send offers"},
            }
        else:
            message["type"] = "text"
            message["text"] = {"body": f"Hello, is order {index} on its way?"}
        value["contacts"] = [{"profile": {"name": f"Bench {index}"}, "wa_id": wa_id}]
        value["messages"] = [message]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def signed(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def write_pool(path: Path, *, first: int, count: int, run: str, secret: str) -> None:
    at = int(time.time())
    with path.open("w") as out:
        for index in range(first, first + count):
            body = json.dumps(delivery(index, run, at), separators=(",", ":"))
            out.write(f"{signed(body.encode(), secret)}\t{body}\n")


def run_wrk(
    wrk: str, url: str, pool: Path, *, threads: int, connections: int, duration: int
) -> dict:
    command = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration}s",
        "--timeout=10s",
        f"--script={LUA}",
        url,
        "--",
        str(pool),
        str(threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line.removeprefix("BENCH_JSON "))
            result["rps"] = result["completed"] / (result["duration_us"] / 1e6)
            return result
    raise SystemExit(f"wrk gave no result:\n{done.stdout}\n{done.stderr}")


def stored_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM whatsapp_inboundevent").fetchone()[0]


def wait_until_stable(dsn: str, seconds: float = 2.0) -> int:
    """In-flight requests at the end of a run are still being stored: wait for the count."""
    last, since = stored_rows(dsn), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.25)
        now = stored_rows(dsn)
        if now != last:
            last, since = now, time.monotonic()
    return last


def run(*, duration: int, rounds: int, connections: int, threads: int, pool_size: int) -> dict:
    check_services()
    wrk = ensure_wrk()
    env = bench_env(DATABASE)
    dsn = f"{PG_SERVER}/{DATABASE}"
    started = time.monotonic()
    load_at_start = os.getloadavg()

    log(f"webhook: recreating database {DATABASE}, migrating, flushing {REDIS_URL}")
    migrated_database(DATABASE, env)
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()

    secret = env["WHATSAPP_APP_SECRET"]
    run_id = f"{int(time.time()) % 100000:05d}"
    results: dict = {"bare": [], "webhook": [], "checks": []}
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        warm_pool, pools = Path(tmp) / "warm.tsv", []
        write_pool(warm_pool, first=0, count=5000, run=run_id, secret=secret)
        for number in range(rounds):
            pool = Path(tmp) / f"round{number}.tsv"
            first = (number + 1) * 10_000_000
            write_pool(pool, first=first, count=pool_size, run=run_id, secret=secret)
            pools.append(pool)
        with gunicorn(env) as base:
            log("webhook: warming up (3 s of each endpoint)")
            run_wrk(
                wrk, base + BARE_PATH, warm_pool, threads=1, connections=connections, duration=3
            )
            warm = run_wrk(
                wrk, base + WEBHOOK_PATH, warm_pool, threads=1, connections=connections, duration=3
            )
            if warm["failed"] or warm["ok"] == 0:
                raise SystemExit(f"the webhook does not answer 200 to signed deliveries: {warm}")
            for number, pool in enumerate(pools, start=1):
                log(f"webhook: round {number}/{rounds}: bare view, {duration} s")
                bare = run_wrk(
                    wrk,
                    base + BARE_PATH,
                    pool,
                    threads=threads,
                    connections=connections,
                    duration=duration,
                )
                results["bare"].append(bare)
                before = wait_until_stable(dsn)
                queued_before = broker.llen(INBOUND_QUEUE)
                log(f"webhook: round {number}/{rounds}: webhook, {duration} s")
                hook = run_wrk(
                    wrk,
                    base + WEBHOOK_PATH,
                    pool,
                    threads=threads,
                    connections=connections,
                    duration=duration,
                )
                results["webhook"].append(hook)
                after = wait_until_stable(dsn)
                queued = broker.llen(INBOUND_QUEUE) - queued_before
                results["checks"].append(
                    {
                        "sent": hook["sent"],
                        "answered_200": hook["ok"],
                        "not_200": hook["failed"],
                        "wrapped": hook["wrapped"],
                        "stored": after - before,
                        "enqueued": queued,
                    }
                )
    broker.flushdb()
    results.update(
        {
            "duration": duration,
            "rounds": rounds,
            "connections": connections,
            "wrk_threads": threads,
            "gunicorn": " ".join(GUNICORN_ARGS),
            "load_average_at_start": load_at_start,
            "seconds": time.monotonic() - started,
        }
    )
    results["summary"] = summarise(results)
    return results


def summarise(results: dict) -> dict:
    def total_rps(runs: list[dict]) -> float:
        return sum(r["completed"] for r in runs) / sum(r["duration_us"] / 1e6 for r in runs)

    def worst(runs: list[dict], key: str) -> float:
        return max(r["latency_us"][key] for r in runs) / 1000

    bare, hook, checks = results["bare"], results["webhook"], results["checks"]
    sent = sum(c["sent"] for c in checks)
    stored = sum(c["stored"] for c in checks)
    enqueued = sum(c["enqueued"] for c in checks)
    return {
        "bare_rps": total_rps(bare),
        "webhook_rps": total_rps(hook),
        "ratio": total_rps(hook) / total_rps(bare),
        "bare_ms": {k: worst(bare, k) for k in ("p50", "p90", "p99", "max")},
        "webhook_ms": {k: worst(hook, k) for k in ("p50", "p90", "p99", "max")},
        "sent": sent,
        "answered_200": sum(c["answered_200"] for c in checks),
        "not_200": sum(c["not_200"] for c in checks),
        "socket_errors": sum(sum(r["errors"].values()) - r["errors"]["status"] for r in hook),
        "stored": stored,
        "enqueued": enqueued,
        "nothing_lost": (
            stored == sent and 0 < enqueued <= stored and not any(c["wrapped"] for c in checks)
        ),
    }


def report(result: dict) -> str:
    s = result["summary"]

    def lat(ms: dict) -> str:
        return f"p50 {ms['p50']:6.1f} ms  p90 {ms['p90']:6.1f} ms  p99 {ms['p99']:6.1f} ms"

    lines = [
        f"Webhook — gunicorn {result['gunicorn']}; wrk {result['connections']} connections, "
        f"{result['rounds']} × {result['duration']} s per endpoint (alternating); "
        f"load average at start {result['load_average_at_start'][0]:.2f}",
        f"  bare Django view (baseline)        {s['bare_rps']:8.0f} req/s   {lat(s['bare_ms'])}",
        f"  POST /webhooks/whatsapp/ (target ≥ 500 req/s)"
        f"   {s['webhook_rps']:8.0f} req/s   {lat(s['webhook_ms'])}",
        f"  ratio webhook / baseline           {s['ratio']:8.2f}",
    ]
    for number, (bare, hook) in enumerate(
        zip(result["bare"], result["webhook"], strict=True), start=1
    ):
        lines.append(
            f"    round {number}: bare {bare['rps']:.0f} req/s, webhook {hook['rps']:.0f} req/s"
        )
    verdict = "OK, nothing lost" if s["nothing_lost"] else "MISMATCH"
    lines.append(
        f"  sent {s['sent']:,} signed deliveries; answered 200: {s['answered_200']:,} "
        f"(the rest were in flight at the end), not 200: {s['not_200']}, socket errors: "
        f"{s['socket_errors']}; stored InboundEvent rows: {s['stored']:,}; tasks enqueued: "
        f"{s['enqueued']:,} → {verdict}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=2, help="bare/webhook pairs")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--pool", type=int, default=40_000, help="distinct deliveries per round")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(
        duration=args.duration,
        rounds=args.rounds,
        connections=args.connections,
        threads=args.threads,
        pool_size=args.pool,
    )
    print(report(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["summary"]["nothing_lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
