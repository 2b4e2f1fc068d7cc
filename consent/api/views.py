"""Consent over the REST API: notices, the ledger, proof and the send-time question.

Every write goes through `consent.services.record_consent`, every answer to
"may we send?" through `consent.selectors`; this module only translates HTTP.
"""

from typing import Any
from uuid import UUID

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.actors import acting
from api.errors import validation_error
from api.filters import InstantFilter
from api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from api.permissions import holds, is_staff_session
from api.schema import QueryValidationErrorResponseSerializer
from api.scopes import EVIDENCE
from api.serializers import SOURCE_NOT_ALLOWED
from contacts.api_fields import PhoneFilter
from contacts.models import Contact
from contacts.selectors import Identifiers, resolve_contacts

from ..exceptions import InvalidConsent
from ..labels import reason_label
from ..models import ConsentEvent, ConsentNotice, Topic
from ..number_scope import many_phones_through_number, may_send_through_number, may_send_to_phone
from ..proof import proof_bundle
from ..rules import Action, IllegalTransition, Purpose, Source, Status
from ..selectors import (
    E164,
    Decision,
    WhatsAppUserId,
    consent_states,
    ledger,
    many_narrowed_to_topic,
    may_send_many,
    narrowed_to_topic,
    notice_by_ref,
    published_notices,
    topic_by_key,
    topic_states,
    topics,
    verify_contact_ledger,
)
from ..services import Evidence, record_for_person, record_topic_for_person
from .serializers import (
    ELIGIBILITY_EXAMPLES,
    EVENT_EXAMPLE,
    GRANT_EXAMPLE,
    KEY_SOURCES,
    WITHDRAW_EXAMPLE,
    BulkEligibilityInputSerializer,
    BulkEligibilitySerializer,
    ConsentEventInputSerializer,
    ConsentEventSerializer,
    EligibilityQuerySerializer,
    EligibilitySerializer,
    NoticeSerializer,
    ProofBundleSerializer,
    ProofSerializer,
    RecordedEventSerializer,
    TopicSerializer,
    consent_summary,
)

# `expire` is the system's alone: an integration asking for it gets the same 409
# as any other transition the ledger refuses.
API_ACTIONS = frozenset(Action.values) - {Action.EXPIRE}
# What staff record in the admin (an opt-out, a pause); an opt-in is the person's own
# act, which staff never record for them.
STAFF_ACTIONS = frozenset({Action.WITHDRAW, Action.PAUSE})
# Staff see personal evidence where the admin shows it to them: in the proof export.
EVIDENCE_PERMISSION = "consent.export_proof"


def may_see_evidence(request: Request) -> bool:
    """IP, user agent, page URL and note: `consent:evidence`, or the Compliance role."""
    return holds(request, scope=EVIDENCE, staff_permission=EVIDENCE_PERMISSION)


# --- Notices -----------------------------------------------------------------------


class NoticeFilter(django_filters.FilterSet):
    purpose = django_filters.ChoiceFilter(choices=Purpose.choices)
    language = django_filters.CharFilter()

    class Meta:
        model = ConsentNotice
        fields = ["purpose", "language"]


@extend_schema_view(list=extend_schema(summary="Published notices (the wording people agree to)"))
class NoticeViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    scope_prefix = "consent"
    staff_permissions = {"list": ("consent.view_consentnotice",)}
    serializer_class = NoticeSerializer
    filterset_class = NoticeFilter
    ordering = ("-published_at", "-pk")

    def get_queryset(self) -> QuerySet[ConsentNotice]:
        # A purpose's wording; a topic's is listed with its topic (/topics/).
        purposes = published_notices().filter(topic__isnull=True)
        newer = purposes.filter(
            purpose=OuterRef("purpose"),
            language=OuterRef("language"),
            version__gt=OuterRef("version"),
        )
        return purposes.annotate(current=~Exists(newer))


# --- Topics --------------------------------------------------------------------------


class TopicFilter(django_filters.FilterSet):
    purpose = django_filters.ChoiceFilter(choices=Purpose.choices)

    class Meta:
        model = Topic
        fields = ["purpose"]


@extend_schema_view(
    list=extend_schema(
        summary="Topics offered under each purpose, with their published notices",
        description="A topic's notice ref is `<purpose>/<topic>/<language>/<version>`; retired "
        "topics are not listed.",
    )
)
class TopicViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    scope_prefix = "consent"
    staff_permissions = {"list": ("consent.view_topic",)}
    serializer_class = TopicSerializer
    filterset_class = TopicFilter
    ordering = ("purpose", "key")

    def get_queryset(self) -> QuerySet[Topic]:
        return topics()


def topic_asked(purpose: str, key: str | None, *, granting: bool = True) -> Topic | None:
    """The topic `key` names under `purpose`; 400 naming `topic` when there is none, or when
    it is retired and more than a withdrawal is asked of it."""
    if not key:
        return None
    topic = topic_by_key(purpose, key)
    if topic is None:
        raise validation_error(
            "topic", f"No topic {key[:64]!r} under {purpose} (GET /topics/).", "unknown_topic"
        )
    if topic.retired_at is not None and granting:
        raise validation_error("topic", f"Topic {topic} is retired.", "topic_retired")
    return topic


# --- Consent events ------------------------------------------------------------------


class ConsentEventFilter(django_filters.FilterSet):
    phone = PhoneFilter(field_name="contact__phone_hash")
    contact = django_filters.UUIDFilter(field_name="contact_id")
    purpose = django_filters.ChoiceFilter(choices=Purpose.choices)
    since = InstantFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="Events that occurred at or after."
    )

    class Meta:
        model = ConsentEvent
        fields = ["phone", "contact", "purpose", "since"]


@extend_schema_view(
    list=extend_schema(
        summary="The consent ledger, oldest first",
        description="`since` filters on when the event occurred.",
    ),
    retrieve=extend_schema(summary="One ledger event"),
    create=extend_schema(
        summary="Record a consent event",
        description=(
            "grant and request need `notice` (a published notice of the same purpose); an unknown "
            "phone becomes a new contact; a permissive event dated more than 5 minutes ahead is "
            "refused, a withdraw never is (its effective time is clamped to when we received "
            "it); an opt-out wins ties within CONSENT_TIE_SECONDS; `applied` and `state` say "
            "what resulted; a withdraw naming two contacts is recorded for each; an illegal "
            "transition (and any `expire`) answers 409 with the current status. `source`: a "
            "key sends `web_form` or `api`; the product's own channels answer 400 "
            "`source_not_allowed`. A staff session records `withdraw` and `pause` only (what "
            "the admin lets its role do, `contacts.change_contact`), always as `admin`."
        ),
        request=ConsentEventInputSerializer,
        responses={201: RecordedEventSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[GRANT_EXAMPLE, WITHDRAW_EXAMPLE, EVENT_EXAMPLE],
    ),
)
@extend_validation_errors(["invalid_phone"], field_name="phone", actions=["list"])
@extend_validation_errors(["required"], field_name="phone", actions=["create"])
@extend_validation_errors(
    ["unknown_topic", "topic_retired"], field_name="topic", actions=["create"]
)
@extend_validation_errors(["notice_required"], field_name="notice", actions=["create"])
@extend_validation_errors(["occurred_in_future"], field_name="occurred_at", actions=["create"])
@extend_validation_errors(
    ["expires_at_required", "expires_after_deadline"], field_name="expires_at", actions=["create"]
)
@extend_validation_errors(["until_required"], field_name="paused_until", actions=["create"])
@extend_validation_errors([SOURCE_NOT_ALLOWED], field_name="source", actions=["create"])
class ConsentEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Append-only: PUT, PATCH and DELETE answer 405."""

    scope_prefix = "consent"
    staff_permissions = {
        "list": ("consent.view_consentevent",),
        "retrieve": ("consent.view_consentevent",),
        # The admin's "record opt-out" and "pause"; `create` checks the action too.
        "create": ("contacts.change_contact",),
    }
    serializer_class = ConsentEventSerializer
    filterset_class = ConsentEventFilter
    # What a client may ask next about the person it recorded (api.schema).
    openapi_links = {
        "create": {
            "201": {
                "AskEligibility": {
                    "operationId": "eligibility_retrieve",
                    "parameters": {
                        "query.phone": "$response.body#/phone",
                        "query.purpose": "$response.body#/purpose",
                    },
                },
                "GetProof": {
                    "operationId": "contacts_proof_retrieve",
                    "parameters": {"path.id": "$response.body#/contact"},
                },
            }
        }
    }
    lookup_value_converter = "uuid"
    ordering = ("occurred_at", "pk")

    def get_queryset(self) -> QuerySet[ConsentEvent]:
        return ConsentEvent.objects.select_related("contact", "notice__topic", "personal_evidence")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "evidence": may_see_evidence(self.request)}

    @idempotent
    def create(self, request: Request) -> Response:
        given = ConsentEventInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        source = _source(request, data.get("source"))
        ids = Identifiers(
            phone=data.get("phone"),
            wa_id=data.get("wa_id"),
            whatsapp_user_id=data.get("whatsapp_user_id"),
        )
        purpose, action = data["purpose"], data["action"]
        if action not in API_ACTIONS:
            known = resolve_contacts(ids)
            state = consent_states(known[0])[purpose] if known else None
            raise IllegalTransition(state.status if state else Status.NONE, action, purpose)
        if is_staff_session(request) and action not in STAFF_ACTIONS:
            raise PermissionDenied(
                f"Staff record opt-outs and pauses, as in the admin; a {action} is the "
                "person's own act, recorded by an integration's key or the product's channels."
            )
        notice = _notice(data.get("notice"))
        evidence = _evidence(data.get("evidence") or {}, request)
        topic = topic_asked(purpose, data.get("topic"), granting=action != Action.WITHDRAW)
        try:
            event, others = _record(ids, data, topic, source, notice, evidence, request)
        except InvalidConsent as exc:
            if exc.code == "notice_purpose_mismatch":
                # Clients see one code for "no usable notice".
                raise validation_error("notice", exc.detail, "notice_required") from exc
            raise
        event = self.get_queryset().get(pk=event.pk)
        context = {**self.get_serializer_context(), "also_recorded_for": others}
        body = RecordedEventSerializer(event, context=context).data
        return Response(body, status=status.HTTP_201_CREATED)


def _record(
    ids: Identifiers,
    data: dict[str, Any],
    topic: Topic | None,
    source: str,
    notice: ConsentNotice | None,
    evidence: Evidence,
    request: Request,
) -> tuple[ConsentEvent, list[Any]]:
    if topic is not None:
        return record_topic_for_person(
            ids,
            topic=topic,
            action=data["action"],
            source=source,
            notice=notice,
            occurred_at=data.get("occurred_at"),
            evidence=evidence,
            actor=acting(request),
        )
    return record_for_person(
        ids,
        purpose=data["purpose"],
        action=data["action"],
        source=source,
        notice=notice,
        occurred_at=data.get("occurred_at"),
        expires_at=data.get("expires_at"),
        paused_until=data.get("paused_until"),
        evidence=evidence,
        actor=acting(request),
    )


def _source(request: Request, given: str | None) -> str:
    """What the event records as its source: a staff session is `admin`, always; a key
    speaks for an integration (`web_form`, `api`), never for staff."""
    if is_staff_session(request):
        if given not in (None, Source.ADMIN):
            raise validation_error(
                "source",
                f"A staff session records as 'admin', not {given!r}: an integration's key "
                "sends web_form or api.",
                SOURCE_NOT_ALLOWED,
            )
        return Source.ADMIN
    if given is not None and given not in KEY_SOURCES:
        raise validation_error(
            "source",
            f"{given!r} is recorded by staff in the admin; an API key sends web_form or api.",
            SOURCE_NOT_ALLOWED,
        )
    return given or Source.API


def _notice(ref: str | None) -> ConsentNotice | None:
    if not ref:
        return None
    notice = notice_by_ref(ref)
    if notice is None:
        raise validation_error(
            "notice",
            f"No published notice {ref[:64]!r} (expected e.g. marketing/en/1).",
            "notice_required",
        )
    return notice


def _evidence(given: dict[str, Any], request: Request) -> Evidence:
    context: dict[str, Any] = {"via": "api"}
    if request.auth is not None and hasattr(request.auth, "prefix"):
        context["api_key"] = request.auth.prefix
    elif is_staff_session(request):
        # The event's actor is the user; the role they acted under is kept beside it.
        context["staff_roles"] = sorted(request.user.groups.values_list("name", flat=True))
    return Evidence(
        ip=given.get("ip") or "",
        user_agent=given.get("user_agent") or "",
        page_url=given.get("page_url") or "",
        wamid=given.get("wamid") or "",
        prompted_by_wamid=given.get("prompted_by_wamid") or "",
        note=given.get("note") or "",
        context=context,
    )


# --- Proof ---------------------------------------------------------------------------


class ProofBundleRenderer(JSONRenderer):
    """`?format=bundle`: the self-contained bundle that scripts/verify_proof.py checks."""

    format = "bundle"


class ProofView(APIView):
    """Everything needed to prove consent for one contact (kept after erasure)."""

    scope_prefix = "consent"
    # The admin's proof export: the Compliance role.
    staff_permissions = {"GET": (EVIDENCE_PERMISSION,)}
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, ProofBundleRenderer]

    @extend_schema(
        summary="Proof of consent for one contact",
        description=(
            "With `?format=bundle`: a self-contained JSON bundle (events with their chained "
            "fields, notice texts, evidence digests, the chain, the inclusion path of its head "
            "in the latest seal) that `scripts/verify_proof.py` checks offline. The bundle "
            "carries the personal evidence: it needs the `consent:evidence` scope (403 "
            "without); without it the events' ip, user_agent, page_url and note read null. "
            "Staff: the Compliance role (`consent.export_proof`)."
        ),
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["bundle"],
                required=False,
                description="bundle: the offline-verifiable proof bundle.",
            )
        ],
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="ProofOrBundle",
                    serializers=[ProofSerializer, ProofBundleSerializer],
                    resource_type_field_name=None,
                ),
                description="The proof; with format=bundle, the bundle.",
            )
        },
    )
    def get(self, request: Request, pk: UUID) -> Response:
        contact = get_object_or_404(Contact, pk=pk)
        evidence = may_see_evidence(request)
        if request.accepted_renderer.format == "bundle":
            if not evidence:
                raise PermissionDenied(
                    f"The proof bundle carries personal evidence: it needs the '{EVIDENCE}' scope."
                )
            return Response(proof_bundle(contact))
        check = verify_contact_ledger(contact)
        states, answered = consent_states(contact), topic_states(contact)
        offered = list(topics())
        body = {
            "contact": {"id": contact.pk, "phone": contact.phone, "erased_at": contact.erased_at},
            "consents": {
                purpose: consent_summary(
                    state,
                    [t for t in offered if t.purpose == purpose],
                    answered.get(purpose, {}).values(),
                )
                for purpose, state in states.items()
            },
            "events": ledger(contact).select_related("contact"),
            "chain": {
                "chain_valid": check.valid,
                "events": check.events,
                "broken_event": check.broken_event_id,
                "problem": check.problem or None,
            },
            "generated_at": timezone.now(),
        }
        return Response(ProofSerializer(body, context={"evidence": evidence}).data)


# --- Eligibility ---------------------------------------------------------------------


def _decision_body(decision: Decision) -> dict[str, Any]:
    body: dict[str, Any] = {"allowed": decision.allowed, "reason": decision.reason}
    if decision.expires_at is not None:
        body["expires_at"] = decision.expires_at.isoformat()
    if decision.until is not None:
        body["until"] = decision.until.isoformat()
    return body


_PURPOSES = frozenset(Purpose.values)


def _plain_question(params: Any) -> dict[str, Any] | None:
    """`phone` and `purpose` as the serializer would take them, when that is all it is.

    The hot path of every send-time check: a serializer costs more than the lookup.
    """
    if "whatsapp_user_id" in params or "sending_number" in params or "topic" in params:
        return None
    phone, purpose = params.get("phone"), params.get("purpose")
    if phone is None or purpose not in _PURPOSES:
        return None
    return {"phone": phone, "purpose": purpose}


class EligibilityView(APIView):
    scope_prefix = "consent"
    staff_permissions = {"GET": ("consent.view_consentstate",)}

    @extend_schema(
        summary="May we send this purpose to this person now?",
        description=(
            "Unknown contacts and invalid phones answer 200 with `allowed: false` "
            "(reasons `unknown_contact`, `invalid_phone`), so every row reads alike."
        ),
        parameters=[EligibilityQuerySerializer],
        responses={200: EligibilitySerializer, 400: QueryValidationErrorResponseSerializer},
        examples=ELIGIBILITY_EXAMPLES,
    )
    def get(self, request: Request) -> Response:
        asked = _plain_question(request.query_params)
        if asked is None:
            # Anything but a phone and a known purpose: the serializer names what is wrong.
            given = EligibilityQuerySerializer(data=request.query_params)
            given.is_valid(raise_exception=True)
            asked = given.validated_data
        purpose = asked["purpose"]
        raw = asked.get("phone")
        body: dict[str, Any]
        number = asked.get("sending_number", "")
        topic = topic_asked(purpose, asked.get("topic"))
        who: str
        if raw is not None:
            phone, decision = may_send_to_phone(raw, purpose, sending_number=number)
            body, who = {"phone": phone}, E164(phone)
        else:
            user_id = asked["whatsapp_user_id"]
            who = WhatsAppUserId(user_id)
            decision = may_send_through_number(who, purpose, sending_number=number)
            body = {"whatsapp_user_id": user_id}
        if topic is not None:
            decision = narrowed_to_topic(decision, who, topic)
            body["topic"] = topic.key
        return Response(
            {
                **body,
                "purpose": purpose,
                **_decision_body(decision),
                # Translated by Accept-Language (LocaleMiddleware); bulk answers stay lean.
                "reason_label": reason_label(decision.reason),
            }
        )


@extend_validation_errors(["unknown_topic", "topic_retired"], field_name="topic", methods=["post"])
class BulkEligibilityView(APIView):
    scope_prefix = "consent"
    # Asking is reading, even when the question is too long for a query string.
    required_scopes = {"POST": "consent:read"}
    staff_permissions = {"POST": ("consent.view_consentstate",)}
    throttle_scope = "api_key_bulk"

    @extend_schema(
        summary="Eligibility for up to 10,000 phones, in the order given",
        request=BulkEligibilityInputSerializer,
        responses=BulkEligibilitySerializer,
        examples=[
            OpenApiExample(
                "Two phones",
                value={"purpose": "marketing", "phones": ["+447911123456", "not a phone"]},
                request_only=True,
            ),
            OpenApiExample(
                "Answers",
                value={
                    "purpose": "marketing",
                    "results": [
                        {"phone": "+447911123456", "allowed": True, "reason": "opted_in"},
                        {"phone": "not a phone", "allowed": False, "reason": "invalid_phone"},
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        given = BulkEligibilityInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        purpose = given.validated_data["purpose"]
        topic = topic_asked(purpose, given.validated_data.get("topic"))
        answers = many_phones_through_number(
            may_send_many(given.validated_data["phones"], purpose),
            purpose=purpose,
            sending_number=given.validated_data.get("sending_number", ""),
        )
        if topic is not None:
            answers = many_narrowed_to_topic(answers, topic)
        # Built as plain dicts: a serializer per row costs more than the lookup itself.
        bodies: dict[Decision, dict[str, Any]] = {}
        results = []
        for shown, decision in answers:
            if decision not in bodies:
                bodies[decision] = _decision_body(decision)
            results.append({"phone": shown, **bodies[decision]})
        asked = {"purpose": purpose, **({"topic": topic.key} if topic else {})}
        return Response({**asked, "results": results})
