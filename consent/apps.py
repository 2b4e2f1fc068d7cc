from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        # The signal receivers and the blocked-person send gate register themselves; the
        # tasks are registered in every process, so the import jobs enqueue them by name.
        from . import blocking, erasure, receivers, tasks  # noqa: F401
