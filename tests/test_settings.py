"""The settings fail closed: with no environment they are production's and stop without secrets.

Each case imports the settings in a fresh interpreter with exactly the environment it
names (no `.env` read: ENV_FILE is empty), as a new machine or a bare container would.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEVELOPMENT = {"ENV_FILE": str(ROOT / ".env.example")}
SECRETS = {
    "SECRET_KEY": "a-real-secret-" + "x9Kq2" * 12,
    "WHATSAPP_APP_SECRET": "app-secret",
    "WHATSAPP_VERIFY_TOKEN": "verify-token",
}


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` run in the project folder with only PATH and `env` in the environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_with_no_environment_the_settings_refuse_to_load_and_name_the_secret():
    result = python("import config.settings")

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_each_secret_is_required_even_with_debug_on(missing):
    given = {name: value for name, value in SECRETS.items() if name != missing}

    result = python("import config.settings", DEBUG="true", **given)

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {missing} must be set" in result.stderr


def test_with_only_the_secrets_set_debug_is_off_and_production_is_secure():
    result = python(
        "from config import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)",
        **SECRETS,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "31536000"]


def test_the_development_env_file_is_enough_to_run_locally():
    result = python(
        "from config import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.BUSINESS_NAME)",
        **DEVELOPMENT,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True django.db.backends.sqlite3 filesystem:// Demo Shop"


def test_importing_the_settings_makes_no_directory():
    # Every way the standard library makes a directory, recorded while the settings load
    # with the development values (SQLite, the filesystem broker, the import folder).
    code = """
import os, pathlib
made = []
def recording(real):
    def make(path, *args, **kwargs):
        made.append(str(path))
        return real(path, *args, **kwargs)
    return make
os.mkdir, os.makedirs = recording(os.mkdir), recording(os.makedirs)
pathlib.Path.mkdir = recording(pathlib.Path.mkdir)
import config.settings
print(made)
"""
    result = python(code, **DEVELOPMENT)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_celery_makes_the_filesystem_brokers_folders_when_it_first_reads_its_configuration(
    tmp_path,
):
    broker = tmp_path / "broker"
    result = python(
        "from config.celery import app; print(app.conf.broker_url)",
        DJANGO_SETTINGS_MODULE="tests.importing.embedded_settings",
        EMBEDDED_TEST_BROKER_DIR=str(broker),
        **DEVELOPMENT,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "filesystem://"
    assert sorted(p.name for p in broker.iterdir()) == ["control", "processed", "queue"]
