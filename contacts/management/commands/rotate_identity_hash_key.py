"""Re-key the suppression list, the erasure log and phone hashes with a new key."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from contacts.phones import hash_key_version
from contacts.services import rotate_identity_hash_key


class Command(BaseCommand):
    help = (
        "With PHONE_HASH_NEXT_KEY set beside PHONE_HASH_KEY, key every stored identifier "
        "hash once more with it. Then deploy PHONE_HASH_PREVIOUS_KEYS=<old keys…,current> "
        "and PHONE_HASH_KEY=<next>. Run it with writers stopped: until the new settings "
        "are live, lookups compute the old version."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        new_key = settings.PHONE_HASH_NEXT_KEY
        try:
            counts = rotate_identity_hash_key(new_key=new_key)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"re-keyed to version {hash_key_version() + 1}: "
            + ", ".join(f"{n} {name}" for name, n in counts.items())
        )
        self.stdout.write(
            "now set PHONE_HASH_PREVIOUS_KEYS to the previous keys followed by the current "
            "PHONE_HASH_KEY, and PHONE_HASH_KEY to PHONE_HASH_NEXT_KEY"
        )
