import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from groups.models import GroupInvitation
from groups.samples import invitation_button_reply


class Command(BaseCommand):
    help = (
        "Print the webhook payload of the invited person tapping Accept / Decline "
        "(samples/group_invitation_button_reply.json filled in), ready to sign and POST."
    )

    def add_arguments(self, parser):
        parser.add_argument("invitation", help="invitation id, or the contact's phone / name")
        parser.add_argument("answer", choices=["accept", "decline"])

    def handle(self, *args, invitation: str, answer: str, **options):
        found = _find(invitation)
        if found is None:
            raise CommandError(f"no pending invitation matches {invitation!r}")
        self.stdout.write(json.dumps(invitation_button_reply(invitation=found, answer=answer)))


def _find(text: str) -> GroupInvitation | None:
    invitations = GroupInvitation.objects.select_related("contact")
    try:
        return invitations.filter(pk=uuid.UUID(text)).first()
    except ValueError:
        pass  # not an id: look it up by the contact instead
    pending = invitations.filter(status="pending")
    return (
        pending.filter(contact__phone=text).first()
        or pending.filter(contact__name__iexact=text).first()
    )
