from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Listens to the apps whose changes it records; nothing imports this app.
        from contacts.copies import provide_copy_sender

        from . import copies, receivers, tasks  # noqa: F401

        provide_copy_sender(copies.send_copy_link)
