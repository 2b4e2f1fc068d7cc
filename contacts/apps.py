from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        # Block / unblock on the contact page: contributed to the contact admin like any app's.
        from . import admin_blocking  # noqa: F401
