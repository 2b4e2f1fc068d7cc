from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Listens to the apps whose changes it records; nothing imports this app.
        from . import receivers, tasks  # noqa: F401
