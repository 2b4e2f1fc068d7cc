from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        # Registers the consent handlers of WhatsApp webhooks.
        from . import erasure, inbound  # noqa: F401
