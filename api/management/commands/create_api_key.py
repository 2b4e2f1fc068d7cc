from django.core.management.base import BaseCommand, CommandError

from api.models import ApiKey
from api.scopes import DESCRIPTIONS, SCOPES, UnknownScope, clean_scopes


class Command(BaseCommand):
    help = "Create an API key and print it once (only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="Who or what uses the key, e.g. 'shop backend'.")
        parser.add_argument(
            "--scopes",
            default="",
            help="Comma-separated scopes, or 'all' (every one, the powers apart included): "
            + "; ".join(f"{scope} ({what})" for scope, what in DESCRIPTIONS.items()),
        )

    def handle(self, *args, name: str, scopes: str, **options) -> None:
        wanted = list(SCOPES) if scopes.strip() == "all" else scopes.split(",")
        try:
            cleaned = clean_scopes(wanted)
        except UnknownScope as exc:
            raise CommandError(str(exc)) from exc
        if not cleaned:
            raise CommandError(f"give at least one scope with --scopes (known: {','.join(SCOPES)})")
        api_key, key = ApiKey.objects.create_key(name=name[:50], scopes=cleaned)
        self.stderr.write(
            f"Created API key '{api_key.name}' ({api_key.prefix}) with scopes "
            f"{', '.join(cleaned)}. Store it now: it cannot be shown again."
        )
        self.stdout.write(key)
