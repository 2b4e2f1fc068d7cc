from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project itself: settings, URLs, the Celery app and deployment checks."""

    name = "config"
    verbose_name = "Project"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the deployment checks)
