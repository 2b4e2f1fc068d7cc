from django.core.management.base import BaseCommand

from console.services import recount_dashboard


class Command(BaseCommand):
    help = (
        "Count the dashboard's tallies again from the tables they tally, after a bulk load "
        "that bypassed their triggers (session_replication_role = replica)."
    )

    def handle(self, *args, **options) -> None:
        recount_dashboard()
        self.stdout.write("The dashboard's tallies are counted again.")
