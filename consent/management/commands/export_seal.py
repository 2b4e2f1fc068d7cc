import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from consent.seals import published_seal, seal_on


class Command(BaseCommand):
    help = "Print the seal of DATE (YYYY-MM-DD) as JSON, to publish or timestamp elsewhere."

    def add_arguments(self, parser) -> None:
        parser.add_argument("date", help="The day sealed, YYYY-MM-DD.")

    def handle(self, *args, date: str, **options) -> None:
        try:
            day = _day(date)
        except ValueError:
            raise CommandError(f"{date!r} is not a date (YYYY-MM-DD)") from None
        seal = seal_on(day)
        if seal is None:
            raise CommandError(f"no seal of {day}")
        self.stdout.write(json.dumps(published_seal(seal), indent=2, sort_keys=True))


def _day(text: str) -> date:
    return date.fromisoformat(text)
