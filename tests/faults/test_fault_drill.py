"""The fault drill: an opt-out survives PostgreSQL restarting, Redis going down and a killed worker.

Production as it runs (gunicorn with DEBUG=false, a Celery worker per queue, beat),
on a private PostgreSQL cluster and a private Redis, sending a marketing campaign to
a fake Graph API that notes when each message arrived. While it sends, people opt out:
signed STOP webhooks in Meta's shape and API withdraws with an Idempotency-Key, each
retried until answered 2xx, as Meta and an integration do. Meanwhile PostgreSQL is
restarted, Redis is stopped (losing every queued task) and started again, and both
workers are killed with SIGKILL and started anew.

Afterwards:
(a) no campaign message reached a person after their opt-out was answered 200/201;
(b) no opt-out attempt was refused with a 4xx (a 5xx or a refused connection during
    an outage is fine when a retry later succeeds);
(c) every answered opt-out is in the ledger exactly once;
(d) `verify_ledger` passes.

The sweeps run on a clock about 30 times faster than production's (drill_settings).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import os
import secrets
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.faults.stack import (
    ROOT,
    PrivatePostgres,
    PrivateRedis,
    Service,
    free_port,
    missing_binaries,
    python,
    wait_for,
)
from tests.whatsapp.fake_graph import FakeGraph
from tests.whatsapp.helpers import load_payload

pytestmark = [pytest.mark.worker, pytest.mark.postgres]

CONTACTS = 600
# Every OPT_OUT_EVERY-th contact of the second half opts out, alternately by STOP
# webhook and by API withdraw: their campaign messages are still to go when they do.
OPT_OUT_EVERY = 4
MESSAGES_PER_SECOND = 25
SECRET = "drill-app-secret"
TEMPLATE = "drill_offer"
# Generous bounds: the drill is over long before them on a quiet machine.
ANSWER_WITHIN = 120.0
SETTLE_WITHIN = 180.0


@dataclass
class OptOut:
    how: str  # "stop" (signed webhook) or "withdraw" (API)
    contact: dict
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    wamid: str = field(default_factory=lambda: f"wamid.DRILL{uuid.uuid4().hex}")
    attempts: list[str] = field(default_factory=list)
    answered_at: float | None = None
    # The ledger event a withdraw was answered with.
    event: str = ""


def _environment(pg: PrivatePostgres, redis: PrivateRedis, graph: FakeGraph) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "CELERY_", "WHATSAPP_", "CACHE_URL", "DJANGO_"))
    }
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "tests.faults.drill_settings",
        "PYTHONPATH": str(ROOT),
        "DEBUG": "false",
        "SECRET_KEY": f"drill-{secrets.token_urlsafe(40)}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback stands in for the TLS proxy in front of production.
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": pg.url,
        "CELERY_BROKER_URL": redis.url(0),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CACHE_URL": redis.url(1),
        "PHONE_HASH_KEY": "drill-phone-hash-key",
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": "drill-verify",
        "WHATSAPP_BACKEND": "cloud",
        "WHATSAPP_API_BASE_URL": graph.base_url,
        "WHATSAPP_API_VERSION": "v23.0",
        "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_ACCESS_TOKEN": "drill-token",
        "WHATSAPP_HTTP_TIMEOUT": "2",
        "WHATSAPP_RATE_LIMIT_URL": redis.url(2),
        "WHATSAPP_MESSAGES_PER_SECOND": str(MESSAGES_PER_SECOND),
        # Production's periods, about 30 times faster (with drill_settings' schedule).
        "WHATSAPP_OUTBOX_REQUEUE_AFTER": "10",
        "WHATSAPP_SENDING_TIMEOUT": "10",
        "WHATSAPP_INBOUND_SWEEP_AFTER": "1",
        "WHATSAPP_HOLD_WAIT": "2",
        "CAMPAIGN_SEND_BATCH_SIZE": "100",
    }


class Drill:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.pg = PrivatePostgres()
        self.redis = PrivateRedis()
        self.graph = FakeGraph(port=free_port())
        self.services: list[Service] = []
        self.web_port = free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.env: dict[str, str] = {}
        self.timeline: list[tuple[float, str]] = []

    # --- Running the stack -------------------------------------------------------------

    def start(self) -> None:
        self.pg.start()
        self.pg.create_database()
        self.redis.start()
        self.graph.start()
        self.env = _environment(self.pg, self.redis, self.graph)
        self.manage("migrate", "--noinput")
        self.web = self.service(
            "web",
            python(
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "config.wsgi",
            ),
        )
        self.start_workers("1")
        self.beat = self.service(
            "beat",
            python(
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel=INFO",
                "-S",
                "celery.beat:PersistentScheduler",
                f"--schedule={self.logs / 'beat-schedule'}",
            ),
        )
        assert wait_for(
            lambda: (
                httpx.get(
                    f"{self.base}/webhooks/whatsapp/",
                    params={
                        "hub.mode": "subscribe",
                        "hub.verify_token": "drill-verify",
                        "hub.challenge": "up",
                    },
                ).text
                == "up"
            ),
            timeout=90,
        ), "gunicorn did not answer:\n" + self.web.tail()

    def start_workers(self, generation: str) -> None:
        """As production: one worker for the inbound queue, one for the others."""
        celery = python(
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        )
        self.inbound = self.service(
            f"inbound-{generation}",
            [*celery, "-Q", "inbound", "--concurrency=1", "-n", f"inbound{generation}@%h"],
        )
        self.worker = self.service(
            f"worker-{generation}",
            [*celery, "-Q", "celery,files", "--concurrency=2", "-n", f"worker{generation}@%h"],
        )
        for service in (self.inbound, self.worker):
            assert wait_for(lambda s=service: " ready." in s.tail(200), timeout=90), (
                f"{service.name} did not start:\n{service.tail()}"
            )

    def service(self, name: str, args: list[str]) -> Service:
        started = Service(name, args, self.env, self.logs)
        self.services.append(started)
        return started

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            python("manage.py", *args),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def data(self, *args: str) -> dict:
        done = subprocess.run(
            python("-m", "tests.faults.drill_data", *args),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    def note(self, what: str) -> None:
        self.timeline.append((time.time(), what))

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        if self.graph._thread.is_alive():
            self.graph.stop()
        self.redis.stop()
        self.pg.stop()

    # --- What people and integrations do ---------------------------------------------------

    def launch(self, campaign: str, key: str) -> None:
        response = httpx.post(
            f"{self.base}/api/v1/campaigns/{campaign}/launch/",
            headers={"Authorization": f"Api-Key {key}"},
            timeout=30,
        )
        assert response.status_code in (200, 201, 202), response.text

    def opt_out(self, opt_out: OptOut, key: str) -> None:
        """Sent until answered 2xx, as Meta and an integration retry; every answer noted."""
        if opt_out.how == "stop":
            body = json.dumps(stop_payload(opt_out.contact["wa_id"], opt_out.wamid)).encode()
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            url, headers = (
                f"{self.base}/webhooks/whatsapp/",
                {
                    "X-Hub-Signature-256": signature,
                    "Content-Type": "application/json",
                },
            )
        else:
            body = json.dumps(
                {
                    "phone": opt_out.contact["phone"],
                    "purpose": "marketing",
                    "action": "withdraw",
                    "source": "api",
                }
            ).encode()
            url, headers = (
                f"{self.base}/api/v1/consent-events/",
                {
                    "Authorization": f"Api-Key {key}",
                    "Idempotency-Key": opt_out.key,
                    "Content-Type": "application/json",
                },
            )
        deadline = time.monotonic() + ANSWER_WITHIN
        while time.monotonic() < deadline:
            try:
                response = httpx.post(url, content=body, headers=headers, timeout=15)
            except httpx.HTTPError as error:
                opt_out.attempts.append(type(error).__name__)
            else:
                opt_out.attempts.append(f"{response.status_code} {response.text[:120]}")
                if 200 <= response.status_code < 300:
                    opt_out.answered_at = time.time()
                    if opt_out.how == "withdraw":
                        opt_out.event = response.json()["id"]
                    return
                if 400 <= response.status_code < 500:
                    return  # refused: assertion (b) reports it
            time.sleep(0.5)


def stop_payload(wa_id: str, wamid: str) -> dict:
    """Meta's shape for a text "STOP" from this person, sent now."""
    payload = copy.deepcopy(load_payload("text_stop"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": "Drill"}, "wa_id": wa_id}]
    message = value["messages"][0]
    message.update(id=wamid, timestamp=str(int(time.time())))
    message["from"] = wa_id
    return payload


@pytest.fixture
def drill(tmp_path):
    logging.getLogger("httpx").setLevel(logging.WARNING)
    missing = missing_binaries()
    if missing:
        reason = f"the fault drill needs {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    running = Drill(tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_an_opt_out_wins_through_a_postgres_restart_a_redis_outage_and_a_killed_worker(drill):
    # given contacts opted in to marketing, and a campaign to them launched over the API
    world = drill.data("setup", str(CONTACTS))
    key, contacts = world["key"], world["contacts"]
    second_half = contacts[CONTACTS // 2 :]
    opt_outs = [
        OptOut("stop" if i % 2 == 0 else "withdraw", contact)
        for i, contact in enumerate(second_half[::OPT_OUT_EVERY])
    ]
    drill.launch(world["campaign"], key)
    drill.note("campaign launched")
    assert wait_for(lambda: len(campaign_calls(drill.graph)) >= 10, timeout=60), (
        "the campaign did not start sending:\n" + drill.worker.tail()
    )

    # when people opt out while it sends, and the stack goes through its faults
    pool = ThreadPoolExecutor(max_workers=4)
    pending = []
    for opt_out in opt_outs:
        pending.append(pool.submit(drill.opt_out, opt_out, key))
    faults = threading.Thread(target=run_faults, args=(drill,))
    faults.start()
    faults.join()
    for future in pending:
        future.result(timeout=ANSWER_WITHIN + 30)
    pool.shutdown()

    # (the campaign is over once no message is queued or on its way)
    assert wait_for(lambda: campaign_done(drill), timeout=SETTLE_WITHIN, every=1), (
        f"the campaign did not finish: {drill.data('ledger')['outbox']}\n{drill.worker.tail()}"
    )
    ledger = drill.data("ledger")
    calls = campaign_calls(drill.graph)
    report(drill, opt_outs, calls, ledger)

    # then (b) no opt-out was refused with a 4xx, and each was answered in the end
    refused = {
        o.contact["phone"]: o.attempts for o in opt_outs if any(a[0] == "4" for a in o.attempts)
    }
    assert not refused, f"opt-outs refused with a 4xx: {refused}"
    unanswered = [o.contact["phone"] for o in opt_outs if o.answered_at is None]
    assert not unanswered, f"opt-outs never answered 2xx: {unanswered}"

    # (a) no campaign message reached anyone after their opt-out was answered
    late = [
        (o.how, o.contact["wa_id"], round(call.at - o.answered_at, 3))
        for o in opt_outs
        if o.answered_at is not None
        for call in calls
        if call.body.get("to") == o.contact["wa_id"] and call.at > o.answered_at
    ]
    assert not late, f"campaign messages after the opt-out was answered: {late}"

    # (c) every answered opt-out is in the ledger exactly once (all processed by now)
    assert wait_for(lambda: inbound_processed(drill), timeout=SETTLE_WITHIN, every=1), (
        "webhook items left unprocessed"
    )
    ledger = drill.data("ledger")
    withdraws = [e for e in ledger["events"] if e["action"] == "withdraw"]
    for opt_out in opt_outs:
        if opt_out.how == "stop":
            found = [e for e in withdraws if e["wamid"] == opt_out.wamid]
        else:
            found = [
                e
                for e in withdraws
                if e["contact"] == opt_out.contact["id"] and e["source"] == "api"
            ]
            assert [e["id"] for e in found] == [opt_out.event], (opt_out.attempts, found)
        assert len(found) == 1, (opt_out.how, opt_out.contact, found, opt_out.attempts)
        assert found[0]["contact"] == opt_out.contact["id"]
    assert len(withdraws) == len(opt_outs)

    # (d) the ledger's chain verifies
    drill.manage("verify_ledger")

    # and the campaign reached everyone else exactly once
    opted_out = {o.contact["wa_id"] for o in opt_outs}
    accepted = Counter(c.body["to"] for c in calls if c.outcome == "accepted")
    assert all(n == 1 for n in accepted.values()), accepted.most_common(3)
    others = {c["wa_id"] for c in contacts} - opted_out
    unknown = ledger["outbox"]["unknown"]
    assert len(others - set(accepted)) <= unknown, "a message to someone opted in never went"


def run_faults(drill: Drill) -> None:
    """PostgreSQL restarts; Redis goes down (its queues lost); both workers are killed."""
    time.sleep(2)
    drill.note("postgres restart")
    drill.pg.restart()
    drill.note("postgres back")
    time.sleep(3)
    drill.note("redis down")
    drill.redis.stop()
    time.sleep(2)
    drill.note("workers killed")
    drill.inbound.kill()
    drill.worker.kill()
    time.sleep(3)
    drill.redis.start()
    drill.note("redis back")
    drill.start_workers("2")
    drill.note("new workers ready")


def campaign_done(drill: Drill) -> bool:
    with drill.pg.connect() as db:
        busy = db.execute(
            "SELECT count(*) FROM whatsapp_outboundmessage WHERE status IN ('queued', 'sending')"
        ).fetchone()[0]
        status = db.execute("SELECT status FROM campaigns_campaign").fetchone()[0]
    return busy == 0 and status == "done"


def inbound_processed(drill: Drill) -> bool:
    with drill.pg.connect() as db:
        return not db.execute(
            "SELECT count(*) FROM whatsapp_inboundevent WHERE state <> 'processed'"
        ).fetchone()[0]


def campaign_calls(graph: FakeGraph) -> list:
    return [
        c
        for c in graph.message_calls()
        if isinstance(c.body, dict) and (c.body.get("template") or {}).get("name") == TEMPLATE
    ]


def report(drill: Drill, opt_outs: list[OptOut], calls: list, ledger: dict) -> None:
    """The drill's figures, printed (pytest -s, or shown with a failure)."""
    start = drill.timeline[0][0]
    answered = sorted(o.answered_at - start for o in opt_outs if o.answered_at)
    retried = [o for o in opt_outs if len(o.attempts) > 1]
    print("\n--- fault drill")
    for at, what in drill.timeline:
        print(f"  t={at - start:6.2f}s  {what}")
    print(
        f"  contacts {CONTACTS}; opt-outs {len(opt_outs)} "
        f"({sum(o.how == 'stop' for o in opt_outs)} STOP webhooks, "
        f"{sum(o.how == 'withdraw' for o in opt_outs)} API withdraws)"
    )
    if answered:
        print(f"  opt-outs answered between t={answered[0]:.2f}s and t={answered[-1]:.2f}s")
    print(
        f"  opt-outs retried: {len(retried)}; attempts: "
        f"{dict(Counter(a.split(' ')[0] for o in opt_outs for a in o.attempts))}"
    )
    print(
        f"  campaign messages received by the fake Graph API: {len(calls)} "
        f"(to {len({c.body.get('to') for c in calls})} people)"
    )
    opted = {o.contact["wa_id"]: o.answered_at or float("inf") for o in opt_outs}
    before = sum(1 for c in calls if c.body.get("to") in opted and c.at <= opted[c.body["to"]])
    print(
        f"  to people who opted out: {before} before their answer, "
        f"{sum(1 for c in calls if c.body.get('to') in opted) - before} after"
    )
    print(
        f"  campaign messages: {dict(Counter(ledger['messages'].values()))}; "
        f"outbox: { {k: v for k, v in ledger['outbox'].items() if v} }"
    )
