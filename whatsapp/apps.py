from django.apps import AppConfig


class WhatsappConfig(AppConfig):
    name = "whatsapp"

    def ready(self) -> None:
        # Registers the channel's own handlers: unknown sends proved delivered (receipts),
        # and the outbox's (rows a template parked go once it is approved again).
        from . import outbox, receipts  # noqa: F401
