from django.apps import AppConfig


class ConversationConfig(AppConfig):
    name = "conversation"
    verbose_name = "Consent on WhatsApp"

    def ready(self) -> None:
        # The WhatsApp webhook handlers and the erasure receiver register themselves; the
        # tasks are registered in every process, so beat enqueues them by name.
        from . import erasure, handlers, tasks  # noqa: F401
