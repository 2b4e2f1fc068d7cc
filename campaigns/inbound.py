"""WhatsApp webhook handlers owned by campaigns (registered from CampaignsConfig.ready)."""

from whatsapp.events import StatusUpdate
from whatsapp.handlers import on

from . import services


@on("status")
def update_campaign_message_status(event: StatusUpdate) -> None:
    # A 131050 failure's withdraw is recorded by the WhatsApp channel's own
    # handler; here only the message's status changes.
    services.record_message_status(
        wamid=event.wamid, status=event.status, at=event.timestamp, errors=event.errors
    )
