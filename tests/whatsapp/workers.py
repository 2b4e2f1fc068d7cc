"""Real Celery workers in their own processes, for the outbox's fault tests.

Each worker is `celery -A config worker --pool=solo` against this run's PostgreSQL
test database and a Redis broker, with the cloud backend pointed at a fake Graph
API in the test process. A worker can be stopped, or killed with SIGKILL
mid-delivery, and another started in its place.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from config.celery import app
from tests.environment import BROKER_URL, BUCKETS_URL, PORTS

ROOT = Path(__file__).resolve().parents[2]
# Every queue production routes tasks to (config/settings.py CELERY_TASK_ROUTES): one
# worker here consumes them all, where production runs a worker per queue.
QUEUES = (settings.CELERY_TASK_DEFAULT_QUEUE, settings.INBOUND_QUEUE, settings.FILES_QUEUE)
READY_SECONDS = 90


def free_port() -> int:
    """The first free port of this xdist worker's range (0: let the system choose)."""
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return 0


def redis_or_skip(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        pytest.skip(f"no Redis at {url}: {error}")
    return client


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def environment(graph_url: str, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PHONE_HASH_KEY": "test-phone-hash-key",
        "WHATSAPP_BACKEND": "cloud",
        "WHATSAPP_API_BASE_URL": graph_url,
        "WHATSAPP_API_VERSION": "v23.0",
        "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_ACCESS_TOKEN": "test-token",
        "WHATSAPP_HTTP_TIMEOUT": "2",
        "WHATSAPP_RATE_LIMIT_URL": BUCKETS_URL,
        "WHATSAPP_MESSAGES_PER_SECOND": "1000",
        "CAMPAIGN_SEND_BATCH_SIZE": "2",
        **overrides,
    }


class Worker:
    def __init__(self, env: dict[str, str], name: str, queues: tuple[str, ...] = QUEUES) -> None:
        self.name = name
        self.log: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "-Q",
                ",".join(queues),
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(READY_SECONDS):
            self.kill()
            raise RuntimeError(f"worker {name} did not start:\n" + "".join(self.log[-40:]))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line)
            if " ready." in line:
                self.ready.set()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no ack, whatever it was doing."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(condition, *, timeout: float = 60, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def clear_queue(url: str, queue: str) -> None:
    """Drop what an interrupted run left in a broker queue (and its bindings)."""
    redis.Redis.from_url(url).delete(
        queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
    )


def forget_routing() -> None:
    # Connections and queue declarations are cached on the Celery app: rebuild them
    # from the configuration a test sets (and restores).
    app.__dict__.pop("amqp", None)
    app._pool = None
