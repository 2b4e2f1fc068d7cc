from django.core.management.base import BaseCommand, CommandError

from consent.services import rebuild_consent_states


class Command(BaseCommand):
    help = "Rebuild the current consent states from the ledger and report differences."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="Report differences without writing."
        )

    def handle(self, *args, check: bool, **options) -> None:
        differences = rebuild_consent_states(write=not check)
        for d in differences:
            self.stdout.write(
                f"contact {d.contact_id} {d.purpose}: stored {d.stored}, ledger says {d.rebuilt}"
            )
        if check and differences:
            raise CommandError(f"{len(differences)} states differ from the ledger")
        verb = "differ" if check else "rebuilt"
        self.stdout.write(self.style.SUCCESS(f"{len(differences)} states {verb}"))
