from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "Imports and exports"

    def ready(self) -> None:
        # Tasks are registered in every process: the jobs enqueue them by name.
        from . import tasks  # noqa: F401
