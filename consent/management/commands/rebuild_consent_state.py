from django.core.management.base import BaseCommand, CommandError

from consent.sql import estimated_events
from consent.verification import rebuild_states
from core.progress import progress_bar


class Command(BaseCommand):
    help = "Rebuild the current consent states from the ledger and report differences."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="Report differences without writing."
        )
        parser.add_argument(
            "--workers", type=int, default=1, help="Processes, each a range of contact ids."
        )

    def handle(self, *args, check: bool, workers: int, **options) -> None:
        with progress_bar("replaying", estimated_events(), self.stderr) as advance:
            differences = rebuild_states(write=not check, workers=workers, on_progress=advance)
        for d in differences:
            self.stdout.write(
                f"contact {d.contact_id} {d.purpose}: stored {d.stored}, ledger says {d.rebuilt}"
            )
        if check and differences:
            raise CommandError(f"{len(differences)} states differ from the ledger")
        verb = "differ" if check else "rebuilt"
        self.stdout.write(self.style.SUCCESS(f"{len(differences)} states {verb}"))
