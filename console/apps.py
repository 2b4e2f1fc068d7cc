from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The admin as a consent console: navigation, dashboard and the admin's CSP."""

    name = "console"
    verbose_name = "Console"
