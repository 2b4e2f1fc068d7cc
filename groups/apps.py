from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self) -> None:
        # Registers the webhook handlers, the invite link's send gate and the receivers.
        from . import inbound, outreach, receivers  # noqa: F401
