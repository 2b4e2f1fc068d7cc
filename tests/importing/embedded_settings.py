"""The embedded default (SQLite, filesystem broker) in a folder of its own, for one test run."""

import os
from pathlib import Path

from config.settings import *  # noqa: F403

# Celery makes these folders when it first reads this configuration (config/celery.py).
_broker = Path(os.environ["EMBEDDED_TEST_BROKER_DIR"])
CELERY_BROKER_URL = "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(_broker / "queue"),
    "data_folder_out": str(_broker / "queue"),
    "processed_folder": str(_broker / "processed"),
    "control_folder": str(_broker / "control"),
    "store_processed": False,
}
# Beat writes its bookkeeping every second, so it competes with the import for the lock.
CELERY_BEAT_SCHEDULE = {
    "expire-lapsed-legacy-consent": {
        "task": "consent.tasks.expire_lapsed_legacy_consent",
        "schedule": 1.0,
    },
}
