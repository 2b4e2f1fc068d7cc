"""Erase again the people a backup restore brought back (the erasure log outlives backups)."""

from typing import Any

from django.core.management.base import BaseCommand

from contacts.services import replay_erasures


class Command(BaseCommand):
    help = (
        "After restoring a backup taken before some erasures: erase again every contact the "
        "erasure log names that the restore brought back. Safe to run at any time."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        erased = replay_erasures()
        self.stdout.write(f"erased again: {erased} contact{'s' if erased != 1 else ''}")
