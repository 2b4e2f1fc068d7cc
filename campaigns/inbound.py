"""WhatsApp handlers owned by campaigns (registered from CampaignsConfig.ready)."""

from whatsapp.events import OutboundResult, StatusUpdate, TemplateChanged
from whatsapp.handlers import on
from whatsapp.receipts import outbound_id_of

from . import reminders, services, template_changes


@on("status")
def update_campaign_message_status(event: StatusUpdate) -> None:
    # A 131050 failure's withdraw is recorded by the consent handler; here only the
    # message's status changes.
    services.record_message_status(
        wamid=event.wamid,
        status=event.status,
        at=event.timestamp,
        errors=event.errors,
        outbound_id=outbound_id_of(event),
    )


@on("outbound_result")
def settle_campaign_message(result: OutboundResult) -> None:
    if result.origin.startswith(f"{services.OUTBOX_ORIGIN}:"):
        services.record_send_result(result=result)
    elif result.origin.startswith(f"{services.REMINDER_ORIGIN}:"):
        reminders.record_reminder_result(result=result)


@on("outbound_settled")
def finish_campaigns(results: list[OutboundResult]) -> None:
    services.finish_campaigns_of(origins=[r.origin for r in results])


@on("template_changed")
def follow_template(event: TemplateChanged) -> None:
    template_changes.follow_template_change(event=event)
