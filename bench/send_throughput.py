"""Send throughput: 10,000 campaign messages delivered to a fake Graph API by 2 Celery workers.

The whole path a campaign message takes after its fan-out, for real: the batch tasks
hand the messages to the outbox (one transaction per batch), the delivery tasks claim
each row, ask consent again, take a token from the sending number's bucket in Redis
(set to 1,000/s, the most the platform grants, which these two workers do not reach),
POST to the Graph API over HTTP (a fake one in its own process, on 127.0.0.1) and record
the answer and the campaign message's status. Baseline, same run, same broker and two
workers: Celery's built-in `celery.accumulate`, a task that does nothing.

Both are timed the same way: the queue is filled first, then the workers start, and the
clock runs from the first task taken off the queue until the last message is accepted
(the last no-op task acknowledged). Target (issue 12): at least 500 messages/s or within
2× of the no-op task rate, whichever is lower. Also checked: every message accepted by
the fake server exactly once.

Needs PostgreSQL (database `bench_send`, recreated; BENCH_SEND_DATABASE to change it)
and Redis (BENCH_REDIS_URL, default db 6, flushed). Ports from BENCH_PORTS when set.

    .venv/bin/python bench/send_throughput.py            # 10,000 messages
    .venv/bin/python bench/send_throughput.py --messages 2000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PYTHON,
    REDIS_URL,
    bench_env,
    check_services,
    db_name,
    free_port,
    loadavg,
    log,
    migrated_database,
    print_rows,
)

DATABASE = os.environ.get("BENCH_SEND_DATABASE", db_name("send"))
MESSAGES = 10_000
WORKERS = 2
# Each worker's pool (the no-op baseline runs on the same). On 2 shared cores one process
# per worker did best: more processes or threads only contend for the CPU.
POOL = os.environ.get("BENCH_SEND_POOL", "solo")
CONCURRENCY = int(os.environ.get("BENCH_SEND_CONCURRENCY", "1"))
QUEUE = "celery"
PATIENCE_SECONDS = 600


def _env(graph_url: str) -> dict[str, str]:
    env = bench_env(DATABASE)
    env.update(
        CELERY_TASK_ALWAYS_EAGER="false",
        WHATSAPP_BACKEND="cloud",
        WHATSAPP_API_BASE_URL=graph_url,
        WHATSAPP_API_VERSION="v23.0",
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_ACCESS_TOKEN="bench-token",
        WHATSAPP_HTTP_TIMEOUT="10",
        WHATSAPP_RATE_LIMIT_URL=REDIS_URL,
        WHATSAPP_MESSAGES_PER_SECOND="1000",
        CAMPAIGN_SEND_BATCH_SIZE="500",
    )
    return env


# --- The data: opted-in contacts and a launched campaign ------------------------------------


def load_audience(messages: int) -> str:
    """`messages` opted-in contacts and a marketing campaign for all of them; its id."""
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignStatus
    from consent.models import ConsentState
    from contacts.models import Contact
    from contacts.phones import phone_hash

    now = timezone.now()
    contacts = []
    for i in range(messages):
        e164 = f"+4479{i:08d}"
        contacts.append(
            Contact(phone=e164, phone_hash=phone_hash(e164), wa_id=e164[1:], name=f"Bench {i}")
        )
    Contact.objects.bulk_create(contacts, batch_size=2000)
    ConsentState.objects.bulk_create(
        [
            ConsentState(contact=c, purpose="marketing", status="opted_in", since=now)
            for c in contacts
        ],
        batch_size=2000,
    )
    campaign = Campaign.objects.create(
        name="Bench sale",
        kind="marketing",
        purpose="marketing",
        template_name="bench_sale",
        body_params=["{name}"],
        status=CampaignStatus.LAUNCHED,
        launched_at=now,
    )
    return str(campaign.pk)


# --- Processes ----------------------------------------------------------------------------


def start_fake_graph(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [PYTHON, "-m", "tests.whatsapp.fake_graph", "--fast", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    server.stdout.readline()  # "fake Graph API on …": it listens
    return server


def fake_stats(graph_url: str) -> dict:
    with urllib.request.urlopen(f"{graph_url}/_fake/stats", timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read())


def start_workers(env: dict[str, str], n: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                f"--pool={POOL}",
                f"--concurrency={CONCURRENCY}",
                os.environ.get("BENCH_SEND_LOGLEVEL", "--loglevel=WARNING"),
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"send{i}@%h",
            ],
            cwd=ROOT,
            env=env,
        )
        for i in range(n)
    ]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU of these processes and of their children, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def _pids_named(*names: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def _machine_busy_seconds() -> float:
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _queue_length(client) -> int:
    return int(client.llen(QUEUE))


def _in_flight(client) -> int:
    # kombu's Redis transport keeps delivered, unacknowledged messages in this hash.
    return int(client.hlen("unacked"))


def timed_drain(
    client, done, *, env: dict[str, str], others: dict[str, set[int]]
) -> tuple[float, dict[str, float]]:
    """Start the workers on a filled queue: seconds from its first task to `done()`,
    and the CPU seconds each kind of process used meanwhile (diagnostics)."""
    before = _queue_length(client)
    workers = start_workers(env, WORKERS)
    groups = {"workers": {w.pid for w in workers}, **others}
    try:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while _queue_length(client) >= before and _in_flight(client) == 0:
            if time.monotonic() > deadline:
                raise SystemExit("the workers took nothing off the queue")
            time.sleep(0.005)
        started = time.monotonic()
        cpu_before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
        busy_before = _machine_busy_seconds()
        while not done():
            if time.monotonic() > deadline:
                raise SystemExit("the work did not finish in time")
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        cpu = {name: _cpu_seconds(pids) - cpu_before[name] for name, pids in groups.items()}
        cpu["whole machine"] = _machine_busy_seconds() - busy_before
        return elapsed, cpu
    finally:
        stop(workers)


# --- The measurements ----------------------------------------------------------------------


def measure(messages: int) -> dict:
    import redis

    check_services()
    port = free_port()
    graph_url = f"http://127.0.0.1:{port}"
    env = _env(graph_url)
    os.environ.update(env)
    log(f"send: recreating database {DATABASE}, migrating")
    migrated_database(DATABASE, env)

    import django

    django.setup()
    from celery import current_app
    from django.db.models import Count

    from campaigns.models import Message, MessageStatus
    from campaigns.services import fan_out_campaign

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    log(f"send: {messages:,} opted-in contacts and a campaign for them")
    campaign_id = load_audience(messages)
    load_at_start = loadavg()

    fake = start_fake_graph(port)
    try:
        # Baseline: no-op tasks through the same broker and two workers.
        log(f"send: baseline, {messages:,} no-op tasks")
        with current_app.producer_or_acquire() as producer:
            for i in range(messages):
                current_app.send_task("celery.accumulate", args=[i], producer=producer)
        others = {
            "fake Graph API": {fake.pid},
            "postgres": _pids_named("postgres"),
            "redis": _pids_named("redis-server"),
        }
        noop_seconds, noop_cpu = timed_drain(
            client,
            lambda: _queue_length(client) == 0 and _in_flight(client) == 0,
            env=env,
            others=others,
        )
        client.flushdb()

        # The sends: fan-out here (rows queued, batch tasks published), then the workers.
        log(f"send: {messages:,} campaign messages to the fake Graph API")
        fan_out_campaign(campaign_id=campaign_id)
        queued_at = time.monotonic()
        send_seconds, send_cpu = timed_drain(
            client,
            lambda: fake_stats(graph_url)["accepted"] >= messages,
            env=env,
            others=others,
        )
        log(
            f"send: delivered in {send_seconds:.1f} s ({time.monotonic() - queued_at:.1f} s queued)"
        )
        stats = fake_stats(graph_url)
        statuses = dict(
            Message.objects.filter(campaign_id=campaign_id)
            .values_list("status")
            .annotate(n=Count("pk"))
        )
    finally:
        fake.terminate()
        fake.wait(timeout=10)
        client.flushdb()
    return {
        "messages": messages,
        "workers": WORKERS,
        "pool": f"{POOL} x {CONCURRENCY}",
        "noop_seconds": noop_seconds,
        "noop_rate": messages / noop_seconds,
        "send_seconds": send_seconds,
        "send_rate": messages / send_seconds,
        # CPU milliseconds per message (per no-op task) in each kind of process.
        "cpu_ms_per_message": {k: round(v * 1000 / messages, 2) for k, v in send_cpu.items()},
        "cpu_ms_per_noop_task": {k: round(v * 1000 / messages, 2) for k, v in noop_cpu.items()},
        "accepted": stats["accepted"],
        "received": stats["received"],
        "accepted_twice": stats["twice"],
        "message_statuses": statuses,
        "all_sent": statuses.get(MessageStatus.SENT, 0) == messages,
        "load_average_at_start": load_at_start,
        "load_average_at_end": loadavg(),
    }


def rows_of(result: dict) -> list[dict]:
    send, noop = result["send_rate"], result["noop_rate"]
    target = min(500.0, noop / 2)
    exactly_once = result["accepted"] == result["messages"] and not result["accepted_twice"]
    return [
        {
            "name": (
                f"campaign sends, {result['messages']:,} msgs, "
                f"{result['workers']} workers ({result['pool']})"
            ),
            "figure": round(send, 1),
            "unit": "msg/s",
            "baseline": round(noop, 1),
            "baseline_label": "no-op Celery task, same broker and workers",
            "ratio": round(noop / send, 2),
            "target": f">= {target:.0f} msg/s (500, or half the no-op rate if lower)",
            "met": send >= target and exactly_once and result["all_sent"],
            "load": result["load_average_at_end"],
            "seconds": round(result["send_seconds"], 2),
            "accepted": result["accepted"],
            "accepted_twice": len(result["accepted_twice"]),
        }
    ]


def run(scale: int) -> list[dict]:
    """The rows for `make bench`: 10,000 messages at 1 M, 3,000 in `make bench-small`."""
    return rows_of(measure(MESSAGES if scale >= 1_000_000 else min(3_000, scale)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.messages)
    print(json.dumps(result, indent=2, default=str))
    print_rows(rows_of(result), args.json)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    main()
