from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from . import inbound  # noqa: F401  (registers the webhook handlers)
