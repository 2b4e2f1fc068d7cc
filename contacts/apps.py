from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .selectors import register_search_name

        # SQLite has no unaccent: the same function, in Python, on each connection.
        connection_created.connect(register_search_name)
        # Block / unblock on the contact page: contributed to the contact admin like any app's.
        from . import admin_blocking  # noqa: F401
