from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        # The signal receivers register themselves; the tasks are registered in every
        # process, so the import jobs enqueue them by name.
        from . import erasure, tasks  # noqa: F401
