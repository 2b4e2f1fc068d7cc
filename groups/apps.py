from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self) -> None:
        from . import inbound  # noqa: F401  (registers the webhook handlers)
