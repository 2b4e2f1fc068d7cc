from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        # The webhook handlers and the topic's send gate register themselves; the tasks are
        # registered in every process, so services can enqueue them by name
        # (config.celery.registered_task).
        from . import inbound, tasks, topic_gate  # noqa: F401
