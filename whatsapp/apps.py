from django.apps import AppConfig


class WhatsappConfig(AppConfig):
    name = "whatsapp"

    def ready(self) -> None:
        # Registers the channel's own status handler (unknown sends proved delivered).
        from . import receipts  # noqa: F401
