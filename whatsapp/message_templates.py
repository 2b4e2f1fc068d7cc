"""The template registry: what the platform says each template is, kept in step.

Two ways in, one rule for each change: `sync_templates` reads the Graph API's
template list (paged, through the one client, outside any transaction) and
`apply_template_update` applies a template webhook. Every change of status,
category or quality writes a `TemplateChange` in the same transaction as the
row, and a webhook's changes are told to "template_changed" handlers (campaigns
move or pause their sends).

The category decides the consent a template needs (`purpose_of`): marketing →
`marketing`; utility and authentication → `service`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .client import graph_client
from .events import TemplateChanged, TemplateUpdate
from .handlers import dispatch
from .models import TemplateChange, WhatsAppTemplate

logger = logging.getLogger(__name__)

Category = WhatsAppTemplate.Category
APPROVED = WhatsAppTemplate.APPROVED
# A full sync that no longer lists a template marks it so.
DELETED = "DELETED"

PURPOSE_BY_CATEGORY: dict[str, str] = {
    Category.MARKETING: "marketing",
    Category.UTILITY: "service",
    Category.AUTHENTICATION: "service",
}
# The fields whose every change is kept as history.
TRACKED = ("status", "category", "quality")
SYNC_SOURCE = "sync"
# Templates asked for per page of the Graph API list.
SYNC_PAGE_SIZE = 100


def purpose_of(category: str) -> str | None:
    """The consent purpose a template category needs; None for a category we do not know."""
    return PURPOSE_BY_CATEGORY.get(category)


def normalize_language(code: str) -> str:
    """`en-US` (webhooks) and `en_US` (the template list, the send payload) are one language."""
    return str(code or "").strip().replace("-", "_")


# --- Placeholders and what a person reads --------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def body_text(components: Iterable[dict[str, Any]]) -> str:
    for component in components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            return str(component.get("text") or "")
    return ""


def placeholders(components: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """The body's placeholders in order, with the platform's example value for each.

    Positional (`{{1}}`) or named (`{{first_name}}`, with `body_text_named_params`).
    """
    components = list(components or [])
    names = list(dict.fromkeys(_PLACEHOLDER.findall(body_text(components))))
    examples: dict[str, str] = {}
    for component in components:
        if not isinstance(component, dict) or str(component.get("type", "")).upper() != "BODY":
            continue
        example = component.get("example") or {}
        positional = (example.get("body_text") or [[]])[0] or []
        for index, value in enumerate(positional, start=1):
            examples[str(index)] = str(value)
        for named in example.get("body_text_named_params") or []:
            if isinstance(named, dict):
                examples[str(named.get("param_name"))] = str(named.get("example") or "")
    return [{"name": name, "example": examples.get(name, "")} for name in names]


def render_body(template: WhatsAppTemplate, params: list[str]) -> str:
    """The body as the person will read it, `params` in the placeholders' order."""
    order = [p["name"] for p in template.parameters or []]
    values = dict(zip(order, params, strict=False))
    return _PLACEHOLDER.sub(
        lambda m: values.get(m.group(1), m.group(0)), body_text(template.components)
    )


# --- Reads -------------------------------------------------------------------------------


def approved_templates() -> QuerySet[WhatsAppTemplate]:
    return WhatsAppTemplate.objects.filter(status=APPROVED)


def template_for(name: str, language: str) -> WhatsAppTemplate | None:
    """The registry's row for a template we send (our WABA's first, if several have it)."""
    rows = list(
        WhatsAppTemplate.objects.filter(name=name, language=normalize_language(language))[:5]
    )
    ours = [r for r in rows if r.waba_id == settings.WHATSAPP_BUSINESS_ACCOUNT_ID]
    found = ours or rows
    return found[0] if found else None


def languages_of(name: str, *, approved_only: bool = True) -> list[str]:
    rows = approved_templates() if approved_only else WhatsAppTemplate.objects.all()
    return sorted(set(rows.filter(name=name).values_list("language", flat=True)))


# --- Writes -------------------------------------------------------------------------------


def _apply(
    row: WhatsAppTemplate, values: dict[str, Any], *, source: str, at: datetime
) -> tuple[dict[str, tuple[str, str]], list[TemplateChange], bool]:
    """Set `values` on the row: the tracked fields that changed, their history rows, and
    whether any field changed at all (components too)."""
    changed: dict[str, tuple[str, str]] = {}
    history: list[TemplateChange] = []
    touched = False
    for name, value in values.items():
        before = getattr(row, name)
        if value == before:
            continue
        setattr(row, name, value)
        touched = True
        if name in TRACKED and row.pk is not None:
            changed[name] = (str(before or ""), str(value or ""))
            history.append(
                TemplateChange(
                    template=row,
                    field=name,
                    before=str(before or "")[:64],
                    after=str(value or "")[:64],
                    source=source,
                    at=at,
                )
            )
    return changed, history, touched


def apply_template_update(*, update: TemplateUpdate) -> TemplateChanged | None:
    """Apply one template webhook to the registry; tells "template_changed" handlers.

    A template we have not synced yet gets its row from the webhook. Returns what
    changed (None when nothing did: a repeated or stale delivery).
    """
    if not update.name or not update.language:
        logger.warning("template webhook without a name or language: %s", update.raw)
        return None
    language = normalize_language(update.language)
    values: dict[str, Any] = {}
    if update.webhook_field == "message_template_status_update" and update.status:
        values["status"] = update.status
        values["rejected_reason"] = update.reason[:200]
    if update.webhook_field == "message_template_quality_update" and update.quality:
        values["quality"] = update.quality
    if update.webhook_field == "template_category_update":
        if update.upcoming_category:
            values["upcoming_category"] = update.upcoming_category
            values["upcoming_category_at"] = update.upcoming_category_at
        else:
            values["upcoming_category"] = ""
            values["upcoming_category_at"] = None
        if update.category:
            values["category"] = update.category
    if update.template_id:
        values["template_id"] = update.template_id
    with transaction.atomic():
        row, created = WhatsAppTemplate.objects.select_for_update().get_or_create(
            waba_id=update.waba_id,
            name=update.name[:512],
            language=language[:16],
            defaults={**values, "updated_at": update.timestamp},
        )
        if created:
            history = [
                TemplateChange(
                    template=row,
                    field=name,
                    after=str(values[name])[:64],
                    source=update.webhook_field,
                )
                for name in TRACKED
                if values.get(name)
            ]
            changes = {name: ("", str(values[name])) for name in TRACKED if values.get(name)}
        else:
            changes, history, _ = _apply(
                row, values, source=update.webhook_field, at=timezone.now()
            )
            row.updated_at = timezone.now()
            row.save()
        TemplateChange.objects.bulk_create(history)
        if not changes:
            return None
        event = TemplateChanged(
            template_pk=row.pk, name=row.name, language=row.language, changes=changes
        )
        dispatch("template_changed", event)
    return event


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    retired: int = 0
    pages: int = 0


def _values_from_listing(item: dict[str, Any]) -> dict[str, Any]:
    listed = item.get("components")
    components: list[dict[str, Any]] = listed if isinstance(listed, list) else []
    return {
        "template_id": str(item.get("id") or "")[:64],
        "category": str(item.get("category") or "").upper()[:32],
        "status": str(item.get("status") or "").upper()[:32],
        "quality": str((item.get("quality_score") or {}).get("score") or "").upper()[:32],
        "rejected_reason": str(item.get("rejected_reason") or "")[:200]
        if item.get("rejected_reason") not in (None, "NONE")
        else "",
        "components": components,
        "parameters": placeholders(components),
    }


@dataclass
class _SyncPlan:
    """What one sync writes, decided before any write."""

    new_rows: list[WhatsAppTemplate] = field(default_factory=list)
    changed_rows: list[WhatsAppTemplate] = field(default_factory=list)
    # Seen and identical: only their last_synced_at moves, in one UPDATE per chunk.
    unchanged_ids: list[int] = field(default_factory=list)
    history: list[TemplateChange] = field(default_factory=list)
    events: list[TemplateChanged] = field(default_factory=list)


_SYNCED_FIELDS = [
    "template_id",
    "category",
    "status",
    "quality",
    "rejected_reason",
    "components",
    "parameters",
    "last_synced_at",
    "updated_at",
]


def sync_templates(*, waba_id: str = "", client: Any = None) -> SyncResult:
    """Bring the registry in step with the platform's template list for one WABA.

    The whole list is read first (the network, outside any transaction; a rate limit
    raises RateLimited with the platform's Retry-After, for the task to retry), then
    written in one transaction: new rows, changed rows with their history, and rows
    the platform no longer lists marked DELETED.
    """
    waba_id = waba_id or settings.WHATSAPP_BUSINESS_ACCOUNT_ID
    if not waba_id:
        raise ValueError("set WHATSAPP_BUSINESS_ACCOUNT_ID (or pass the WABA id) to sync")
    client = client or graph_client()
    listing = client.list_templates(waba_id, page_size=SYNC_PAGE_SIZE)
    result = SyncResult(pages=listing.pages)
    now = timezone.now()
    with transaction.atomic():
        existing = {
            (row.name, row.language): row
            for row in WhatsAppTemplate.objects.select_for_update().filter(waba_id=waba_id)
        }
        plan = _plan_sync(waba_id, listing.templates, existing, result, now)
        _write_sync(plan, result, now)
    return result


def _plan_sync(
    waba_id: str,
    templates: list[dict[str, Any]],
    existing: dict[tuple[str, str], WhatsAppTemplate],
    result: SyncResult,
    now: datetime,
) -> _SyncPlan:
    plan = _SyncPlan()
    seen: set[tuple[str, str]] = set()
    for item in templates:
        key = (
            str(item.get("name") or "")[:512],
            normalize_language(str(item.get("language") or ""))[:16],
        )
        if not key[0] or not key[1] or key in seen:
            continue
        seen.add(key)
        values = _values_from_listing(item)
        row = existing.get(key)
        if row is None:
            plan.new_rows.append(
                WhatsAppTemplate(
                    waba_id=waba_id,
                    name=key[0],
                    language=key[1],
                    last_synced_at=now,
                    updated_at=now,
                    **values,
                )
            )
            continue
        changes, rows, touched = _apply(row, values, source=SYNC_SOURCE, at=now)
        if not touched:
            plan.unchanged_ids.append(row.pk)
            result.unchanged += 1
            continue
        row.last_synced_at = row.updated_at = now
        result.updated += 1
        plan.history.extend(rows)
        plan.changed_rows.append(row)
        if changes:
            plan.events.append(TemplateChanged(row.pk, row.name, row.language, changes))
    for key, row in existing.items():
        if key not in seen and row.status != DELETED:
            changes, rows, _ = _apply(row, {"status": DELETED}, source=SYNC_SOURCE, at=now)
            row.updated_at = now
            plan.history.extend(rows)
            plan.changed_rows.append(row)
            plan.events.append(TemplateChanged(row.pk, row.name, row.language, changes))
            result.retired += 1
    return plan


def _write_sync(plan: _SyncPlan, result: SyncResult, now: datetime) -> None:
    created = WhatsAppTemplate.objects.bulk_create(plan.new_rows, batch_size=500)
    result.created = len(created)
    plan.history.extend(
        TemplateChange(template=row, field=name, after=getattr(row, name), source=SYNC_SOURCE)
        for row in created
        for name in TRACKED
        if getattr(row, name)
    )
    WhatsAppTemplate.objects.bulk_update(plan.changed_rows, _SYNCED_FIELDS, batch_size=500)
    for start in range(0, len(plan.unchanged_ids), 1000):
        WhatsAppTemplate.objects.filter(pk__in=plan.unchanged_ids[start : start + 1000]).update(
            last_synced_at=now
        )
    TemplateChange.objects.bulk_create(plan.history, batch_size=1000)
    for event in plan.events:
        dispatch("template_changed", event)
