from django.core.management.base import BaseCommand

from consent.rules import Purpose
from groups.models import Group

DEMO_GROUP = "VIP early access"


class Command(BaseCommand):
    help = "Create the demo group 'VIP early access' (idempotent: run it as often as you like)."

    def handle(self, *args, **options):
        group, created = Group.objects.get_or_create(
            name=DEMO_GROUP,
            defaults={
                "description": "First look at new collections, a week before everyone else.",
                "purpose": Purpose.MARKETING,
                "capacity": 50,
            },
        )
        verb = "Created" if created else "Kept"
        self.stdout.write(f"{verb} demo group “{group.name}” ({group.pk}).")
