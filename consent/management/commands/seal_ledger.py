from django.core.management.base import BaseCommand

from consent.seals import published_seal, seal_ledger


class Command(BaseCommand):
    help = "Seal the ledger for today (the beat task does it daily); print the seal."

    def handle(self, *args, **options) -> None:
        seal = seal_ledger()
        self.stdout.write(
            f"seal #{seal.seq} of {seal.sealed_on}: {seal.chains} chains, "
            f"{seal.events} events, root {seal.root}"
        )
        self.stdout.write(f"hash {published_seal(seal)['hash']}")
