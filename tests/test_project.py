"""The project as a new user meets it: demo data, deploy settings, commands."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from consent.models import ConsentEvent, ConsentNotice, ConsentState, TopicState
from consent.rules import Status
from contacts.models import Contact

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_covers_every_state():
    call_command("load_demo", stdout=StringIO())
    counts = (Contact.objects.count(), ConsentEvent.objects.count())
    call_command("load_demo", stdout=StringIO())

    assert (Contact.objects.count(), ConsentEvent.objects.count()) == counts
    refs = {n.ref for n in ConsentNotice.objects.filter(published_at__isnull=False)}
    assert refs >= {"marketing/en/1", "service/en/1", "marketing/es/1", "service/es/1"}
    assert refs >= {
        f"marketing/{t}/{lang}/1" for t in ("offers", "new_arrivals") for lang in ["en", "es"]
    }
    assert set(TopicState.objects.values_list("topic__key", "status")) == {
        ("new_arrivals", "opted_in"),
        ("offers", "opted_out"),
    }
    marketing = set(
        ConsentState.objects.filter(purpose="marketing").values_list("status", flat=True)
    )
    assert marketing == set(Status.values) - {Status.NONE}
    assert Contact.objects.filter(consent_states__isnull=True).count() == 0
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "0 broken" in out.getvalue()


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_is_clean_with_debug_off_and_real_secrets():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="a-real-secret-" + "x9Kq2" * 12,
        ALLOWED_HOSTS="crm.example.com",
        WHATSAPP_APP_SECRET="app-secret",
        WHATSAPP_VERIFY_TOKEN="verify-token",
        CACHE_URL="redis://127.0.0.1:6379/14",
        PHONE_HASH_KEY="a-real-phone-hash-key",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_refuses_a_per_process_cache_in_production():
    result = run_manage(
        "check",
        "--deploy",
        DEBUG="false",
        SECRET_KEY="a-real-secret-" + "x9Kq2" * 12,
        ALLOWED_HOSTS="crm.example.com",
        WHATSAPP_APP_SECRET="app-secret",
        WHATSAPP_VERIFY_TOKEN="verify-token",
        PHONE_HASH_KEY="a-real-phone-hash-key",
    )
    assert result.returncode != 0
    assert "config.E001" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", DEBUG="false", SECRET_KEY="", ALLOWED_HOSTS="crm.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
