"""What status webhooks tell the outbox (registered from WhatsappConfig.ready).

Every message we send carries its outbox row's id as `biz_opaque_callback_data`,
and Meta echoes it in the statuses of that message. A `sent`, `delivered` or
`read` for a row whose fate was unknown (the worker stopped before the answer
came) settles it as accepted, with the message id the platform gave it.
"""

from .delivery import settle_from_evidence
from .events import StatusUpdate
from .handlers import on

DELIVERED = ("sent", "delivered", "read")


def outbound_id_of(event: StatusUpdate) -> str:
    """The outbox row id a status echoes back, or ""."""
    try:
        status = event.raw["entry"][0]["changes"][0]["value"]["statuses"][0]
    except (KeyError, IndexError, TypeError):
        return ""
    return str(status.get("biz_opaque_callback_data") or "") if isinstance(status, dict) else ""


@on("status")
def settle_unknown_outbound(event: StatusUpdate) -> None:
    outbound_id = outbound_id_of(event)
    if outbound_id and event.wamid and event.status in DELIVERED:
        settle_from_evidence(outbound_id=outbound_id, wamid=event.wamid)
