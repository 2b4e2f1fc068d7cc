"""Sample webhook payloads for trying invitations by hand (`samples/*.json`, `${NAME}` slots)."""

import json
from pathlib import Path
from string import Template

from django.conf import settings
from django.utils import timezone

from .models import GroupInvitation

SAMPLES = Path(settings.BASE_DIR) / "samples"


def invitation_button_reply(*, invitation: GroupInvitation, answer: str) -> dict:
    """Meta's payload for the invited person tapping Accept or Decline."""
    contact = invitation.contact
    text = (SAMPLES / "group_invitation_button_reply.json").read_text()
    filled = Template(text).substitute(
        NAME=contact.name or "Demo contact",
        WA_ID=contact.wa_id or str(contact.phone).lstrip("+"),
        INVITATION_WAMID=invitation.message_wamid or "wamid.UNKNOWN",
        INVITATION_ID=str(invitation.pk),
        ANSWER=answer,
        TITLE="Accept" if answer == "accept" else "Decline",
        TIMESTAMP=str(int(timezone.now().timestamp())),
    )
    return json.loads(filled)
