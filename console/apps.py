import json
from typing import Any

from django.apps import AppConfig
from django.utils.html import format_html
from django.utils.safestring import SafeString


def plain_json(data: Any, encoder: Any) -> SafeString:
    """Read-only JSON as escaped text in a <pre> (its look in console.css)."""
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, cls=encoder)
    return format_html('<pre class="console-json">{}</pre>', text)


class ConsoleConfig(AppConfig):
    """The admin as a consent console: navigation, dashboard and the admin's CSP."""

    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        import unfold.fields

        # unfold colours read-only JSON with Pygments' inline style attributes, which
        # our CSP refuses (one console error per value); the same text, unstyled inline.
        unfold.fields.prettify_json = plain_json
        from django.db.models.signals import post_migrate, pre_migrate

        from .services import (
            forget_tallies_of_an_empty_database,
            keep_tallies_counting,
            let_migrations_rebuild_tables,
        )

        pre_migrate.connect(let_migrations_rebuild_tables, sender=self)
        post_migrate.connect(keep_tallies_counting, sender=self)
        post_migrate.connect(forget_tallies_of_an_empty_database, sender=self)
