"""Just before a template message goes: the registry's word on that template, now.

Template webhooks stored and not yet processed are processed first (the outbox's
rule for what a recipient sent, applied to what the platform said about a
template), so a re-categorisation or a pause that has reached us is never
outrun by a send. Then:

- a template the registry knows and that is not approved parks the row (it waits,
  not sent, not failed) until the template is approved again;
- a row with a purpose takes the purpose of the template's current category when
  that is stricter (a utility template re-categorised as marketing needs marketing
  consent, whatever the row was queued with); the consent gate then asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists

from .message_templates import normalize_language, purpose_of, template_for
from .models import InboundEvent, OutboundMessage, WhatsAppTemplate
from .parsing import TEMPLATE_UPDATE
from .services import process_inbound_event

MARKETING = "marketing"
# Stored template webhooks processed before one send, at most (the rest: the next send).
_SETTLE_AT_ONCE = 50


@dataclass(frozen=True)
class TemplateVerdict:
    """`park_by`: park the row under this mark; `hold`: try again shortly; neither: go on."""

    park_by: str = ""
    hold: bool = False
    reason: str = ""
    # The template's current category, when the registry knows it (routes the send).
    category: str = ""


GO = TemplateVerdict()


def template_parking_mark(name: str, language: str) -> str:
    return f"template:{name}:{language}"[:600]


def _pending_template_updates() -> list[int]:
    return list(
        InboundEvent.objects.filter(
            kind=TEMPLATE_UPDATE,
            state__in=[InboundEvent.State.RECEIVED, InboundEvent.State.FAILED],
        )
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:_SETTLE_AT_ONCE]
    )


def settle_template_updates() -> tuple[bool, int]:
    """Process the stored template webhooks: (none left unprocessed, how many were processed)."""
    pending = _pending_template_updates()
    for pk in pending:
        process_inbound_event(event_id=pk, retry_failed=True)
    return (not pending or not _pending_template_updates()), len(pending)


def _template_and_pending(name: str, language: str) -> tuple[WhatsAppTemplate | None, bool]:
    """The registry's row (our WABA's first) and whether template webhooks wait: one query
    when the registry knows the template (every campaign send), two when it does not."""
    waiting = InboundEvent.objects.filter(
        kind=TEMPLATE_UPDATE,
        state__in=[InboundEvent.State.RECEIVED, InboundEvent.State.FAILED],
    )
    rows = list(
        WhatsAppTemplate.objects.filter(name=name, language=normalize_language(language))
        .annotate(updates_waiting=Exists(waiting))
        .order_by("pk")[:5]
    )
    if not rows:
        return None, waiting.exists()
    ours = [r for r in rows if r.waba_id == settings.WHATSAPP_BUSINESS_ACCOUNT_ID]
    found = (ours or rows)[0]
    return found, bool(getattr(found, "updates_waiting", False))


def check_template(row: OutboundMessage) -> TemplateVerdict:
    """The registry's verdict on a claimed template row (it may move the row's purpose)."""
    if row.kind != OutboundMessage.Kind.TEMPLATE:
        return GO
    template_payload = (row.payload or {}).get("template") or {}
    name = str(template_payload.get("name") or "")
    language = str((template_payload.get("language") or {}).get("code") or "")
    template, waiting = _template_and_pending(name, language)
    if waiting:
        settled, processed = settle_template_updates()
        if not settled:
            return TemplateVerdict(
                hold=True, reason="held: a template webhook is not processed yet"
            )
        if processed:
            # What they changed may have parked this very row (its campaign paused).
            mark = (
                OutboundMessage.objects.filter(pk=row.pk)
                .values_list("parked_by", flat=True)
                .first()
            )
            if mark:
                return TemplateVerdict(park_by=mark, reason="held: its sender paused it")
        template = template_for(name, language) if name else None
    if template is None:
        # Not in the registry (not synced yet): the purpose it was queued with decides.
        return GO
    if not template.is_approved:
        return TemplateVerdict(
            park_by=template_parking_mark(template.name, template.language),
            reason=f"held: template {template.name} ({template.language}) is "
            f"{template.status or 'not approved'}",
        )
    purpose = purpose_of(template.category)
    if row.purpose and purpose == MARKETING and row.purpose != MARKETING:
        row.purpose = MARKETING
        OutboundMessage.objects.filter(pk=row.pk).update(purpose=MARKETING)
    return TemplateVerdict(category=template.category)
