from datetime import date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from imports.exports import contact_rows, ledger_rows, write_csv, write_xlsx


class Command(BaseCommand):
    help = (
        "Write contacts with their consent states (or, with --ledger, the ledger for a period) "
        "to a CSV or XLSX file, row by row."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="where to write: .csv or .xlsx")
        parser.add_argument("--ledger", action="store_true", help="the ledger, not contacts")
        parser.add_argument(
            "--since", type=date.fromisoformat, help="ledger: first day (YYYY-MM-DD)"
        )
        parser.add_argument(
            "--until", type=date.fromisoformat, help="ledger: last day, inclusive (default: today)"
        )

    def handle(self, *args, **options) -> None:
        path: str = options["file"]
        if options["ledger"]:
            if options["since"] is None:
                raise CommandError("--ledger needs --since YYYY-MM-DD")
            zone = timezone.get_current_timezone()
            until = options["until"] or timezone.localdate()
            start = datetime.combine(options["since"], time(), tzinfo=zone)
            end = datetime.combine(until + timedelta(days=1), time(), tzinfo=zone)
            rows, title = ledger_rows(start, end), "ledger"
        else:
            rows, title = contact_rows(), "contacts"
        if path.lower().endswith(".xlsx"):
            write_xlsx(rows, path, title=title)
        else:
            with open(path, "w", newline="", encoding="utf-8") as out:
                write_csv(rows, out)
        self.stdout.write(self.style.SUCCESS(f"wrote {path}"))
