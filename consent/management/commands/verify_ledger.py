from django.core.management.base import BaseCommand, CommandError

from consent.ledger import check_chain
from consent.models import ConsentEvent


class Command(BaseCommand):
    help = "Walk every contact's consent chain; exit non-zero on the first broken link of any."

    def handle(self, *args, **options) -> None:
        contact_ids = (
            ConsentEvent.objects.values_list("contact_id", flat=True).order_by().distinct()
        )
        chains = events = broken = 0
        for contact_id in contact_ids.iterator():
            check = check_chain(contact_id)
            chains += 1
            events += check.events
            if not check.valid:
                broken += 1
                self.stderr.write(
                    f"contact {contact_id}: broken at event {check.broken_event_id}: "
                    f"{check.problem}"
                )
        summary = f"{chains} chains, {events} events checked, {broken} broken"
        if broken:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(f"ledger valid: {summary}"))
