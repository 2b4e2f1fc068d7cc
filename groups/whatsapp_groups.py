"""Real WhatsApp groups: the platform never lets a business add anyone, so we create the group
joinable only with our approval and approve a join request only from someone whose invitation
was accepted."""

from dataclasses import dataclass
from typing import Any, cast

from django.db import transaction

from staff.audit import record_audit
from whatsapp import outbox
from whatsapp.client import graph_client

from . import selectors
from .models import Group, GroupInvitation


def create_whatsapp_group(*, group: Group, actor: Any = None) -> Group:
    """Create the group on WhatsApp, joinable only with our approval.

    A staff action answered on the spot (the platform's request id is needed before
    anything else can happen), so a direct call: never inside a transaction. What it
    stores, and the audit of `actor`, are one transaction after the call.
    """
    if group.whatsapp_group_id or group.whatsapp_request_id:
        return group
    created = graph_client().create_group(subject=group.name, description=group.description)
    group.whatsapp_request_id = created.request_id
    if created.group_id:
        group.whatsapp_group_id = created.group_id
        group.invite_link = created.invite_link or group.invite_link
    with transaction.atomic():
        group.save(update_fields=["whatsapp_request_id", "whatsapp_group_id", "invite_link"])
        if actor is not None:
            record_audit(
                actor=actor,
                action="create_whatsapp_group",
                obj=group,
                after={"request_id": group.whatsapp_request_id},
            )
    return group


def record_whatsapp_group_created(
    *, request_id: str, group_id: str, invite_link: str = ""
) -> Group | None:
    """The platform finished creating a group we asked for (lifecycle webhook).

    A repeated webhook, or one for a request that is not ours, changes nothing.
    """
    group = Group.objects.filter(whatsapp_request_id=request_id).first()
    if group is None or group.whatsapp_group_id == group_id:
        return group
    group.whatsapp_group_id = group_id
    group.invite_link = invite_link or group.invite_link
    group.save(update_fields=["whatsapp_group_id", "invite_link"])
    return group


def complete_pending_creations() -> int:
    """Groups the platform has created since we asked (its answer was only a request id).

    The `group_lifecycle_update` webhook carries the id too; polling by subject is the
    fallback that needs nothing else subscribed.
    """
    waiting = list(
        Group.objects.filter(whatsapp_group_id__isnull=True).exclude(whatsapp_request_id="")
    )
    if not waiting:
        return 0
    client = graph_client()
    by_subject = {g.subject: g.id for g in client.list_groups()}
    known = set(
        Group.objects.filter(whatsapp_group_id__in=by_subject.values()).values_list(
            "whatsapp_group_id", flat=True
        )
    )
    completed = 0
    for group in waiting:
        group_id = by_subject.get(group.name)
        if group_id and group_id not in known:
            record_whatsapp_group_created(
                request_id=group.whatsapp_request_id,
                group_id=group_id,
                invite_link=client.get_invite_link(group_id),
            )
            known.add(group_id)
            completed += 1
    return completed


@dataclass(frozen=True)
class JoinDecision:
    request_id: str
    approved: bool
    reason: str
    invitation: GroupInvitation | None = None


def decide_join_request(
    *, group: Group, request_id: str, wa_id: str = "", user_id: str = "", actor: Any = None
) -> JoinDecision:
    """Approve a join request only from someone whose invitation was accepted.

    The decision is queued in the outbox (in the caller's transaction) and sent after
    commit; one decision per request, and a failed one is queued again when the request
    comes back (webhook or polling).
    """
    invitation = selectors.invitation_for_join_request(group=group, wa_id=wa_id, user_id=user_id)
    approved = invitation is not None
    with transaction.atomic():
        outbox.enqueue_join_decision(
            # Callers pass a group found by, or checked for, its WhatsApp id.
            group_id=cast(str, group.whatsapp_group_id),
            request_id=request_id,
            approve=approved,
            reason=f"join request to {group.name}"[:200],
        )
        if actor is not None:
            record_audit(
                actor=actor,
                action="decide_join_request",
                obj=group,
                after={"request_id": request_id, "approved": approved},
            )
    if not approved:
        return JoinDecision(request_id, False, "no accepted invitation")
    return JoinDecision(request_id, True, "accepted invitation", invitation)


def close_join_request(*, group: Group, request_id: str) -> bool:
    """The person withdrew their join request: a decision not yet sent is not sent.

    True when a queued decision was closed; a decision already sent stays as it was (the
    platform ignores a decision on a revoked request).
    """
    if not group.whatsapp_group_id or not request_id:
        return False
    origin = outbox.join_decision_origin(group.whatsapp_group_id, request_id)
    return bool(
        outbox.cancel_queued(origin_prefix=origin, reason="join request revoked", exact=True)
    )


def review_join_requests(*, group: Group, actor: Any = None) -> list[JoinDecision]:
    """Poll the platform for pending join requests (outside any transaction) and decide each."""
    if not group.whatsapp_group_id:
        return []
    return [
        decide_join_request(
            group=group,
            request_id=request.id,
            wa_id=request.wa_id,
            user_id=request.user_id,
            actor=actor,
        )
        for request in graph_client().list_join_requests(group.whatsapp_group_id)
    ]
