"""One real run: a Celery worker on Redis sends a campaign launched from another process."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from tests import environment
from tests.campaigns.conftest import make_contact

ROOT = Path(__file__).resolve().parents[2]
# This xdist worker's Redis database for Celery queues (tests/environment.py).
BROKER = environment.BROKER_URL
PATIENCE_SECONDS = 60

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def _environment() -> dict[str, str]:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "WHATSAPP_BACKEND": "console",
        "CAMPAIGN_SEND_BATCH_SIZE": "2",
    }


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def test_a_worker_sends_a_launched_campaign_to_the_eligible_contacts_only(campaign):
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL (CI runs this)")
    # given
    allowed = [make_contact("opted_in") for _ in range(3)]
    refused = make_contact("opted_out")
    env = _environment()
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    subprocess.run([*celery, "purge", "-f"], cwd=ROOT, env=env, check=True, capture_output=True)
    worker = subprocess.Popen(
        [*celery, "worker", "--pool=solo", "--loglevel=WARNING", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
    )
    try:
        # when another process launches it (as the admin would)
        _manage(
            "shell",
            "-c",
            "from campaigns.models import Campaign; from campaigns.services import "
            f"launch_campaign; launch_campaign(campaign=Campaign.objects.get(pk='{campaign.pk}'))",
            env=env,
        )
        deadline = time.monotonic() + PATIENCE_SECONDS
        while time.monotonic() < deadline:
            if Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DONE:
                break
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    # then
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DONE
    statuses = dict(Message.objects.values_list("contact_id", "status"))
    assert [statuses[c.pk] for c in allowed] == [MessageStatus.SENT] * 3
    assert statuses[refused.pk] == MessageStatus.SKIPPED
