from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        # The WhatsApp webhook handlers and signal receivers register themselves; the tasks are
        # registered in every process, so the import jobs enqueue them by name.
        from . import blocking, erasure, inbound, tasks  # noqa: F401
