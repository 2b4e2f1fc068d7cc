from django.core.management.base import BaseCommand, CommandError

from consent.seals import verify_seals
from consent.sql import estimated_events
from consent.verification import verify_ledger
from core.progress import progress_bar


class Command(BaseCommand):
    help = "Walk every contact's consent chain; exit non-zero if any link is broken."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--workers", type=int, default=1, help="Processes, each a range of contact ids."
        )
        parser.add_argument(
            "--seals",
            action="store_true",
            help="Also check the daily seals: a chain deleted or truncated, a seal changed.",
        )

    def handle(self, *args, workers: int, seals: bool, **options) -> None:
        with progress_bar("verifying", estimated_events(), self.stderr) as advance:
            result = verify_ledger(workers=workers, on_progress=advance)
        for check in result.broken:
            self.stderr.write(
                f"contact {check.contact_id}: broken at event {check.broken_event_id}: "
                f"{check.problem}"
            )
        summary = (
            f"{result.chains} chains, {result.events} events checked, {len(result.broken)} broken"
        )
        failed = bool(result.broken)
        if seals:
            sealed = verify_seals()
            for problem in sealed.problems:
                self.stderr.write(str(problem))
            summary += f"; {sealed.seals} seals, {len(sealed.problems)} seal problems"
            failed |= not sealed.valid
        if failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(f"ledger valid: {summary}"))
