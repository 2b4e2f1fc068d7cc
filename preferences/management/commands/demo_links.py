from django.conf import settings
from django.core.management.base import BaseCommand
from django.urls import reverse

from contacts.models import Contact
from preferences.links import preference_url

DEMO_PHONES = ["+447911123001", "+447911123003", "+447911123006", "+34612345678"]


class Command(BaseCommand):
    help = "Print preference-centre links for a few demo contacts (after load_demo)."

    def handle(self, *args, **options) -> None:
        contacts = {str(c.phone): c for c in Contact.objects.filter(phone__in=DEMO_PHONES)}
        if not contacts:
            self.stdout.write("no demo contacts: run `manage.py load_demo` first")
            return
        self.stdout.write("Preference centre links (open one in a browser):")
        for phone in DEMO_PHONES:
            contact = contacts.get(phone)
            if contact is not None:
                self.stdout.write(
                    f"  {contact.name} ({contact.language}): {preference_url(contact)}"
                )
        self.stdout.write(f"Web opt-in form: {settings.SITE_URL}{reverse('consent:opt_in')}")
