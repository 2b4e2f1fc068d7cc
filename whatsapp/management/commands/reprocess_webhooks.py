from django.core.management.base import BaseCommand

from whatsapp.models import InboundEvent
from whatsapp.services import reprocess_inbound_events


class Command(BaseCommand):
    help = "Process again the stored WhatsApp webhook events that failed (or never ran)."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="Only these InboundEvent ids.")
        parser.add_argument(
            "--failed-only", action="store_true", help="Leave never-processed rows alone."
        )

    def handle(self, *args, ids, failed_only, **options):
        done = reprocess_inbound_events(ids=ids or None, include_received=not failed_only)
        failed = InboundEvent.objects.filter(state=InboundEvent.State.FAILED).exclude(
            kind=InboundEvent.Kind.MALFORMED
        )
        if ids:
            failed = failed.filter(pk__in=ids)
        count = failed.count()
        self.stdout.write(f"processed {done}; {count} still failed")
        if count:
            for row in failed.order_by("received_at")[:20]:
                last_line = (row.error.strip().splitlines() or [""])[-1]
                self.stdout.write(f"  #{row.pk} {row.kind} {row.wamid}: {last_line}")
