import os
from pathlib import Path
from typing import Any

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("consent_crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def make_filesystem_broker_folders(source: Any, **kwargs: Any) -> None:
    """The filesystem broker (the default without CELERY_BROKER_URL) needs its folders.

    Made when Celery first reads its configuration (a worker, beat, the first task sent),
    not when the settings are imported.
    """
    if not (source.broker_url or "").startswith("filesystem://"):
        return
    options = source.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


def registered_task(name: str) -> Task:
    """A task by its name, for the services its own tasks module imports (no import back)."""
    return app.tasks[name]
