from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self) -> None:
        from . import inbound, receivers  # noqa: F401  (registers handlers and receivers)
