from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "preferences"
    verbose_name = "Customer pages"

    def ready(self) -> None:
        from consent.preference_links import provide_preference_url

        from . import checks  # noqa: F401 (registers the system checks)
        from .links import preference_url

        # consent's WhatsApp replies link to the preference centre without importing this app.
        provide_preference_url(preference_url)
