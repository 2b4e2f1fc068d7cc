"""The test run's environment, set before Django reads its settings.

Loaded as a plugin (`-p tests.environment` in pyproject.toml's addopts) because
pytest-django imports the settings before any conftest.py.

- The development values the settings refuse to start without (with nothing set,
  the settings are production's): the tests run as a developer's machine does. A
  value already in the environment wins.
- Each pytest-xdist worker (`PYTEST_XDIST_WORKER`, gw0, gw1, …) has its own Redis
  databases and its own ports, so two workers never share a Celery queue, a token
  bucket or a server's port. pytest-django gives each its own test database.
"""

import os
from urllib.parse import urlsplit

import pytest

DEVELOPMENT = {
    "DEBUG": "true",
    "SECRET_KEY": "test-only-insecure-secret-key",
    "WHATSAPP_APP_SECRET": "dev-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "dev-verify-token",
}
for _name, _value in DEVELOPMENT.items():
    os.environ.setdefault(_name, _value)
# A developer's .env (written by `make run`, then theirs to edit) is not the tests': they
# run with the values above and the settings' defaults, as CI's clean checkout does.
os.environ.setdefault("ENV_FILE", "")


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw"))


def _redis_server() -> str:
    """TEST_REDIS_URL, else the server of a Redis CELERY_BROKER_URL, else the local default."""
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        url = "redis://127.0.0.1:6379"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# Redis has 16 databases: two per worker.
MAX_WORKERS = 8
WORKER = _worker_index()
if WORKER >= MAX_WORKERS:
    raise RuntimeError(f"each xdist worker has two Redis databases: {MAX_WORKERS} workers at most")
REDIS_SERVER = _redis_server()
# Celery queues of this worker's tests (flushed by the tests that start real workers).
BROKER_URL = f"{REDIS_SERVER}/{2 * WORKER}"
# Token buckets and anything else kept apart from the queues.
BUCKETS_URL = f"{REDIS_SERVER}/{2 * WORKER + 1}"
# Ports for servers the tests start (the fake Graph API of the worker tests); TEST_PORT_BASE
# keeps two runs on one machine (two checkouts) apart.
PORT_BASE = int(os.environ.get("TEST_PORT_BASE", "8120"))
PORTS = range(PORT_BASE + 10 * WORKER, PORT_BASE + 10 + 10 * WORKER)

if os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
    # The application's own broker (and the token buckets it defaults to) is this
    # worker's, on the server the run was given.
    os.environ["CELERY_BROKER_URL"] = BROKER_URL


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker per CPU this process may use, at most MAX_WORKERS."""
    return min(MAX_WORKERS, len(os.sched_getaffinity(0)))
