from django.core.management.base import BaseCommand, CommandError

from whatsapp.exceptions import WhatsAppError
from whatsapp.message_templates import sync_templates


class Command(BaseCommand):
    help = "Read the WhatsApp Business Account's message templates into the template registry."

    def add_arguments(self, parser):
        parser.add_argument(
            "--waba", default="", help="WABA id (default: WHATSAPP_BUSINESS_ACCOUNT_ID)."
        )

    def handle(self, *args, waba, **options):
        try:
            result = sync_templates(waba_id=waba)
        except (ValueError, WhatsAppError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{result.pages} pages read: {result.created} new, {result.updated} changed, "
            f"{result.unchanged} unchanged, {result.retired} no longer listed"
        )
