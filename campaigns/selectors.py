"""Reads of campaigns: audience, preview, counts per status, opt-outs they caused."""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.expressions import Combinable
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState, TopicState
from consent.number_scope import decisions_through, many_through_number, per_number
from consent.rules import Action, Purpose, Status
from consent.selectors import (
    ALLOWED_BY_REASON,
    BULK_CHUNK,
    TOPIC_ALLOWING,
    Decision,
    Reason,
    may_send_contacts,
    narrowed_by_topic,
    narrowed_to_topic,
    reason_expression,
    topic_reason_expression,
)
from contacts.models import Contact
from whatsapp.addressing import whatsapp_address

from . import sql
from .models import Campaign, CampaignKind, Message, MessageStatus

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# Not a consent reason: the contact has neither a WhatsApp id nor a phone to send to.
NO_WHATSAPP_ADDRESS = "no_whatsapp_address"


# A re-consent campaign with no states chosen asks those whose consent predates the
# rules (legacy), never people who already answered yes.
RECONSENT_DEFAULT_STATES = [Status.LEGACY]


def audience_states(campaign: Campaign) -> list[str]:
    if not campaign.audience_states and campaign.kind == CampaignKind.RECONSENT:
        return list(RECONSENT_DEFAULT_STATES)
    return list(campaign.audience_states or [])


def campaign_audience(campaign: Campaign) -> QuerySet[Contact]:
    """Contacts the campaign is aimed at (before the consent gate): tags, attributes, states."""
    contacts = Contact.objects.filter(erased_at__isnull=True)
    tag_ids = list(campaign.audience_tags.values_list("pk", flat=True))
    if tag_ids:
        tagged = Contact.tags.through.objects.filter(tag_id__in=tag_ids).values("contact_id")
        contacts = contacts.filter(pk__in=tagged)
    for n, (key, value) in enumerate(sorted(campaign.audience_attributes.items())):
        # Compared as text, so "30" matches a stored 30 as well as "30".
        as_text = Cast(KT(f"attributes__{key}"), output_field=TextField())
        contacts = contacts.annotate(**{f"_attr{n}": as_text}).filter(**{f"_attr{n}": str(value)})
    chosen = audience_states(campaign)
    if chosen:
        # EXISTS / NOT EXISTS: a NOT IN over a million ids outgrows work_mem and
        # PostgreSQL falls back to a quadratic plan.
        states = ConsentState.objects.filter(contact=OuterRef("pk"), purpose=campaign.purpose)
        wanted: Q | Combinable = Exists(states.filter(status__in=chosen))
        if Status.NONE in chosen:
            wanted |= ~Exists(states.exclude(status=Status.NONE))
        contacts = contacts.filter(wanted)
    return contacts


def topic_audience(campaign: Campaign) -> QuerySet[Contact]:
    """The audience a topic campaign is queued for: those whose answer about its topic lets
    it through (`consent.selectors.TOPIC_ALLOWING`), a merged duplicate by its survivor's."""
    contacts = campaign_audience(campaign)
    if campaign.topic_id is None:
        return contacts
    answering = Coalesce(OuterRef("merged_into_id"), OuterRef("pk"))
    chose = TopicState.objects.filter(
        contact_id=answering, topic_id=campaign.topic_id, status__in=TOPIC_ALLOWING
    )
    return contacts.filter(Exists(chose))


@dataclass(frozen=True)
class Preview:
    total: int
    eligible: int
    # reason → how many contacts it keeps out (consent.selectors.Reason values,
    # or NO_WHATSAPP_ADDRESS).
    ineligible: dict[str, int] = field(default_factory=dict)
    # reason → how many eligible contacts it lets in (opted_in, legacy_grace_period).
    eligible_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def ineligible_total(self) -> int:
        return self.total - self.eligible


def _addressable() -> ExpressionWrapper:
    """SQL for `whatsapp.addressing.whatsapp_address(...) is not None`.

    A username-only contact is reached by its business-scoped id (`recipient`).
    """
    has = [
        Q(**{f"{name}__isnull": False}) & ~Q(**{name: ""})
        for name in ("wa_id", "phone", "whatsapp_user_id", "parent_user_id")
    ]
    return ExpressionWrapper(has[0] | has[1] | has[2] | has[3], output_field=BooleanField())


def _with_reasons(contacts: QuerySet[Contact], campaign: Campaign, at: datetime) -> QuerySet:
    """Each contact annotated with its eligibility `reason` and whether it is `addressable`;
    for a topic campaign, the purpose's reason narrowed by the topic (`purpose_reason`
    and `topic_status` kept)."""
    with_state = contacts.annotate(
        state=FilteredRelation(
            "consent_states", condition=Q(consent_states__purpose=campaign.purpose)
        )
    )
    purpose_reason = reason_expression(at, prefix="state__", blocked="blocked_at")
    if campaign.topic is None:
        return with_state.annotate(reason=purpose_reason, addressable=_addressable())
    # A LEFT JOIN on the (contact, topic) unique index: one row at most, hashed with the rest.
    topic_state = FilteredRelation("topic_states", condition=Q(topic_states__topic=campaign.topic))
    return (
        with_state.annotate(topic_state=topic_state, purpose_reason=purpose_reason)
        .annotate(
            topic_status=F("topic_state__status"),
        )
        .annotate(
            reason=topic_reason_expression(reason="purpose_reason", topic_status="topic_status"),
            addressable=_addressable(),
        )
    )


def preview_campaign(*, campaign: Campaign, at: datetime | None = None) -> Preview:
    """Who would get the campaign if it were sent at `at`, and why the others would not.

    One grouped query: each contact's reason is `consent.selectors.decide`'s rule
    table compiled into SQL, counted by the database. Merged duplicates, which answer
    with their survivor's state, are few and go through `may_send_contacts`.
    """
    at = at or timezone.now()
    audience = campaign_audience(campaign)
    # (reason, allowed, has a WhatsApp address) → contacts
    counts: Counter[tuple[str, bool, bool]] = Counter()
    reasons = _with_reasons(audience.filter(merged_into__isnull=True), campaign, at)
    grouped = reasons.order_by().values_list("reason", "addressable").annotate(n=Count("pk"))
    with transaction.atomic(), sql.one_big_aggregate():
        for reason, addressable, n in grouped:
            counts[(reason, ALLOWED_BY_REASON[reason], bool(addressable))] += n
    _ask_the_campaigns_number(campaign, reasons, counts, at)
    merged = (
        audience.filter(merged_into__isnull=False)
        .order_by()
        .values_list("pk", "wa_id", "phone", "whatsapp_user_id", "parent_user_id")
    )
    for chunk in batched(merged.iterator(chunk_size=BULK_CHUNK), BULK_CHUNK):
        decisions = many_through_number(
            may_send_contacts([row[0] for row in chunk], campaign.purpose, at),
            purpose=campaign.purpose,
            sending_number=campaign.phone_number_id,
        )
        for pk, wa_id, phone, user_id, parent_user_id in chunk:
            decision: Decision = decisions[pk]
            if campaign.topic is not None:
                decision = narrowed_to_topic(decision, Contact(pk=pk), campaign.topic)
            address = whatsapp_address(
                phone=phone, wa_id=wa_id, user_id=user_id, parent_user_id=parent_user_id
            )
            counts[(decision.reason, decision.allowed, address is not None)] += 1

    eligible: Counter[str] = Counter()
    ineligible: Counter[str] = Counter()
    for (reason, allowed, addressable), n in counts.items():
        if not n:
            continue
        if not allowed:
            ineligible[reason] += n
        elif not addressable:
            ineligible[NO_WHATSAPP_ADDRESS] += n
        else:
            eligible[reason] += n
    total_eligible = sum(eligible.values())
    return Preview(
        total=total_eligible + sum(ineligible.values()),
        eligible=total_eligible,
        ineligible=dict(ineligible.most_common()),
        eligible_reasons=dict(eligible.most_common()),
    )


def _ask_the_campaigns_number(
    campaign: Campaign, reasons: QuerySet, counts: Counter[tuple[str, bool, bool]], at: datetime
) -> None:
    """In `number` stop scope, those opted out of marketing only on other numbers may get it
    from the campaign's number: counted under the answer that number gives them."""
    number = campaign.phone_number_id
    if not per_number() or not number or campaign.purpose != Purpose.MARKETING:
        return
    topic_status = "topic_status" if campaign.topic is not None else "reason"
    stopped = {
        pk: (addressable, status)
        for pk, addressable, status in reasons.filter(reason=Reason.OPTED_OUT)
        .order_by()
        .values_list("pk", "addressable", topic_status)
    }
    for chunk in batched(list(stopped), BULK_CHUNK):
        for pk, decision in decisions_through(chunk, number, at).items():
            if not decision.allowed:
                continue
            addressable, status = bool(stopped[pk][0]), stopped[pk][1]
            if campaign.topic is not None:
                decision = narrowed_by_topic(decision, status)
            counts[(Reason.OPTED_OUT, False, addressable)] -= 1
            counts[(decision.reason, decision.allowed, addressable)] += 1


def campaign_counts(campaign: Campaign) -> dict[str, int]:
    """Messages per status, every status present (0 where none): one query."""
    counts = dict.fromkeys(MessageStatus.values, 0)
    rows = (
        Message.objects.filter(campaign=campaign)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    counts.update(dict(rows))
    return counts


def campaigns_with_counts(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Annotate `count_<status>` on each campaign, for lists (one query for the page).

    A subquery per status counts on the (campaign, status) index, campaign by
    campaign; a join would aggregate every message of every campaign (measured:
    1.6 s for a list with one 1 M-message campaign).
    """

    def counted(status: str) -> Coalesce:
        per_campaign = (
            Message.objects.filter(campaign=OuterRef("pk"), status=status)
            .order_by()
            .values("campaign")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(per_campaign, output_field=IntegerField()), 0)

    return campaigns.annotate(
        **{f"count_{status}": counted(status) for status in MessageStatus.values}
    )


def counts_from_annotations(campaign: Any) -> dict[str, int]:
    return {status: getattr(campaign, f"count_{status}") for status in MessageStatus.values}


# --- Which message caused an opt-out ------------------------------------------


@dataclass(frozen=True)
class OptOut:
    event: ConsentEvent
    message: Message
    # "named": the withdraw names this message (the reply's context.id, or its failed delivery);
    # "last_delivered": it names none, and this was the last message delivered before it.
    how: str


def _reached_at() -> Coalesce:
    # A `read` implies delivery even when the `delivered` status never arrived.
    return Coalesce("delivered_at", "read_at")


def campaign_opt_outs(campaign: Campaign) -> list[OptOut]:
    """Withdraws this campaign prompted, oldest first (a constant number of queries)."""
    recipients = Message.objects.filter(campaign=campaign).values("contact_id")
    # Through the recipients: the ledger is searched by its contact index.
    withdraws = ConsentEvent.objects.filter(
        action=Action.WITHDRAW, applied=True, contact__in=recipients
    )
    wamids = Message.objects.filter(campaign=campaign, wamid__isnull=False).values("wamid")
    replied = list(
        withdraws.filter(prompted_by_wamid__in=wamids).select_related("contact", "notice")
    )

    last_delivered = (
        Message.objects.annotate(reached_at=_reached_at())
        .filter(contact=OuterRef("contact"), reached_at__lte=OuterRef("occurred_at"))
        .order_by("-reached_at")
    )
    unprompted = list(
        withdraws.filter(prompted_by_wamid="")
        .annotate(last_message_id=Subquery(last_delivered.values("pk")[:1]))
        .filter(last_message_id__in=Message.objects.filter(campaign=campaign).values("pk"))
        .select_related("contact", "notice")
    )

    message_by_wamid = {
        m.wamid: m
        for m in Message.objects.filter(
            campaign=campaign, wamid__in=[e.prompted_by_wamid for e in replied]
        )
    }
    message_by_id = Message.objects.in_bulk([e.last_message_id for e in unprompted])
    opt_outs = [OptOut(e, message_by_wamid[e.prompted_by_wamid], "named") for e in replied]
    opt_outs += [OptOut(e, message_by_id[e.last_message_id], "last_delivered") for e in unprompted]
    return sorted(opt_outs, key=lambda o: o.event.occurred_at)
