import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("consent_crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def registered_task(name: str) -> Task:
    """A task by its name, for the services its own tasks module imports (no import back)."""
    return app.tasks[name]
