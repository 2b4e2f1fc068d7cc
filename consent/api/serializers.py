"""Serializers of the consent API: what goes in and out, and the schema's examples."""

from collections.abc import Iterable
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers

from api.errors import validation_error
from api.scopes import EVIDENCE
from api.serializers import ApiSourceField, InstantField
from contacts.api_fields import PhoneField

from ..chain import PERSONAL_FIELDS
from ..models import ConsentEvent, ConsentNotice, ConsentState, Topic, TopicState
from ..rules import Action, Purpose, Source, Status
from ..selectors import Reason

# The sources a caller of the API may name: an integration capturing the person's own
# act (`web_form`, `api`), or a staff session (`admin`, what a session always records).
# The product's own channels (WhatsApp, the preference centre, imports, the system)
# are never claimed through the API: `source_not_allowed`.
API_SOURCES = [(s.value, s.label) for s in (Source.WEB_FORM, Source.API, Source.ADMIN)]
KEY_SOURCES = frozenset({Source.WEB_FORM, Source.API})
BULK_MAX_PHONES = 10_000


class TopicSummarySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    since = serializers.DateTimeField(allow_null=True)
    notice = serializers.CharField(
        allow_null=True, help_text="Notice ref, e.g. marketing/offers/en/1."
    )


class ConsentSummarySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    since = serializers.DateTimeField(allow_null=True)
    # DRF's metaclass pops declared fields, so this does not shadow the base attribute.
    source = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    notice = serializers.CharField(allow_null=True, help_text="Notice ref, e.g. marketing/en/1.")
    expires_at = serializers.DateTimeField(allow_null=True)
    paused_until = serializers.DateTimeField(allow_null=True)
    topics = serializers.DictField(
        child=TopicSummarySerializer(),
        help_text="Each topic offered under the purpose (and any retired one answered), by key: "
        "sendable only when the purpose is and its own status is opted_in.",
    )


class ConsentsSerializer(serializers.Serializer):
    marketing = ConsentSummarySerializer()
    service = ConsentSummarySerializer()
    calls = ConsentSummarySerializer(
        help_text="Permission to call on WhatsApp, granted in WhatsApp's own dialog: "
        "`expires_at` ends a temporary one (null: permanent); never a message purpose.",
    )


def consent_summary(
    state: ConsentState | None,
    offered: Iterable[Topic] = (),
    answered: Iterable[TopicState] = (),
) -> dict[str, Any]:
    """One purpose's state, with `offered` topics (of this purpose) and the `answered` ones."""
    topics = {topic.key: topic_summary(None) for topic in offered}
    topics.update({s.topic.key: topic_summary(s) for s in answered})
    if state is None or state.status == Status.NONE:
        return {
            "status": Status.NONE.value,
            "since": None,
            "source": None,
            "notice": None,
            "expires_at": None,
            "paused_until": None,
            "topics": topics,
        }
    return {
        "status": state.status,
        "since": state.since,
        "source": state.source or None,
        "notice": state.notice.ref if state.notice else None,
        "expires_at": state.expires_at,
        "paused_until": state.paused_until,
        "topics": topics,
    }


def topic_summary(state: TopicState | None) -> dict[str, Any]:
    if state is None:
        return {"status": Status.NONE.value, "since": None, "notice": None}
    return {
        "status": state.status,
        "since": state.since,
        "notice": state.notice.ref if state.notice else None,
    }


class TopicSerializer(serializers.ModelSerializer):
    names = serializers.DictField(
        child=serializers.CharField(), help_text='By language code, e.g. {"en": "Offers"}.'
    )
    notices = serializers.SerializerMethodField()

    class Meta:
        model = Topic
        fields = ["key", "purpose", "names", "notices"]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(
            child=serializers.CharField(),
            help_text="Refs of its published notices, e.g. marketing/offers/en/1.",
        )
    )
    def get_notices(self, topic: Topic) -> list[str]:
        return [notice.ref for notice in topic.notices.all()]


class NoticeSerializer(serializers.ModelSerializer):
    ref = serializers.CharField(read_only=True, help_text="Send this as `notice` with a grant.")
    current = serializers.BooleanField(
        read_only=True, help_text="The latest published version for its purpose and language."
    )

    class Meta:
        model = ConsentNotice
        fields = ["ref", "purpose", "language", "version", "text", "published_at", "current"]
        read_only_fields = fields


class ConsentEvidenceSerializer(serializers.Serializer):
    ip = serializers.IPAddressField(allow_null=True, allow_blank=True, required=False)
    user_agent = serializers.CharField(
        max_length=2000, allow_null=True, allow_blank=True, required=False
    )
    page_url = serializers.URLField(
        max_length=2000, allow_null=True, allow_blank=True, required=False
    )
    wamid = serializers.CharField(max_length=256, allow_null=True, allow_blank=True, required=False)
    prompted_by_wamid = serializers.CharField(
        max_length=256, allow_null=True, allow_blank=True, required=False
    )
    note = serializers.CharField(max_length=5000, allow_null=True, allow_blank=True, required=False)


class ConsentEventInputSerializer(serializers.Serializer):
    phone = PhoneField(required=False)
    wa_id = serializers.CharField(
        max_length=32,
        required=False,
        help_text="WhatsApp id (digits as WhatsApp sends them; not always a valid phone).",
    )
    whatsapp_user_id = serializers.CharField(
        max_length=128, required=False, help_text="For a person known without a phone."
    )
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    topic = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        help_text="The key of a topic under `purpose` (GET /topics/): the event is about it. "
        "grant or withdraw only; a grant needs the topic's notice and the purpose opted_in "
        "or legacy (409 `purpose_not_granted`); a withdraw is never refused.",
    )
    action = serializers.ChoiceField(
        choices=Action.choices, help_text="`expire` is the system's alone: 409."
    )
    # DRF's metaclass pops declared fields, so this does not shadow the base attribute.
    source = ApiSourceField(  # type: ignore[assignment]
        choices=API_SOURCES,
        channels=Source.values,
        required=False,
        help_text="An API key: `web_form` or `api` (the default). A staff session: `admin` "
        "(the default; anything else is refused). The product's own channels "
        "(whatsapp_button, whatsapp_keyword, whatsapp_platform, preference_centre, import, "
        "system): 400 `source_not_allowed`.",
    )
    notice = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        help_text="Ref of the published notice shown, e.g. marketing/en/1; needed by grant "
        "and request.",
    )
    occurred_at = InstantField(required=False, help_text="Defaults to now.")
    expires_at = InstantField(
        required=False, allow_null=True, help_text="legacy: end of the grace period."
    )
    paused_until = InstantField(
        required=False, allow_null=True, help_text="pause: when marketing may resume."
    )
    evidence = ConsentEvidenceSerializer(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs.get("phone") or attrs.get("wa_id") or attrs.get("whatsapp_user_id")):
            raise validation_error("phone", "Give the person's phone.", "required")
        return attrs


class ConsentEventSerializer(serializers.ModelSerializer):
    """A ledger event. Its personal evidence (IP, user agent, page URL, note) reads null
    unless the context says the caller may see it (`evidence=True`: the `consent:evidence`
    scope, or a staff role that exports proof)."""

    contact = serializers.UUIDField(source="contact_id", read_only=True)
    phone = PhoneField(source="contact.phone", read_only=True, allow_null=True)
    notice = serializers.CharField(source="notice.ref", read_only=True, allow_null=True)
    evidence = ConsentEvidenceSerializer(
        read_only=True,
        help_text=f"ip, user_agent, page_url and note are null without the `{EVIDENCE}` scope "
        "(staff: the Compliance role); wamid and prompted_by_wamid are always shown.",
    )
    evidence_erased = serializers.CharField(
        source="evidence_statement",
        read_only=True,
        allow_null=True,
        help_text="Set once the person's evidence was erased (the event and its digest stay).",
    )

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "contact",
            "phone",
            "purpose",
            "topic",
            "action",
            "source",
            "notice",
            "occurred_at",
            "recorded_at",
            "expires_at",
            "paused_until",
            "evidence",
            "evidence_erased",
            "applied",
            "prev_hash",
            "hash",
            "status_after",
        ]
        read_only_fields = fields

    def to_representation(self, instance: ConsentEvent) -> dict[str, Any]:
        body = super().to_representation(instance)
        if not self.context.get("evidence", False) and body.get("evidence") is not None:
            body["evidence"] = {**body["evidence"], **dict.fromkeys(PERSONAL_FIELDS)}
        return body


class ResultingStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    since = serializers.DateTimeField(allow_null=True)


class RecordedEventSerializer(ConsentEventSerializer):
    """A recorded event with the state that resulted (never what was asked for)."""

    state = serializers.SerializerMethodField()
    also_recorded_for = serializers.SerializerMethodField(
        help_text="Other contacts the same identifiers named (likely duplicates): the "
        "opt-out was recorded for each."
    )

    class Meta(ConsentEventSerializer.Meta):
        fields = [*ConsentEventSerializer.Meta.fields, "state", "also_recorded_for"]
        read_only_fields = fields

    @extend_schema_field(ResultingStateSerializer)
    def get_state(self, event: ConsentEvent) -> dict[str, Any]:
        state: ConsentState | TopicState | None
        if event.topic:
            state = TopicState.objects.filter(
                contact_id=event.contact_id, topic__purpose=event.purpose, topic__key=event.topic
            ).first()
        else:
            state = ConsentState.objects.filter(
                contact_id=event.contact_id, purpose=event.purpose
            ).first()
        if state is None:
            return {"status": Status.NONE, "since": None}
        return {
            "status": state.status,
            "since": serializers.DateTimeField().to_representation(state.since)
            if state.since
            else None,
        }

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_also_recorded_for(self, event: ConsentEvent) -> list[str]:
        return [str(pk) for pk in self.context.get("also_recorded_for", [])]


GRANT_EXAMPLE = OpenApiExample(
    "Web form grant",
    value={
        "phone": "+447911123456",
        "purpose": "marketing",
        "action": "grant",
        "source": "web_form",
        "notice": "marketing/en/1",
        "occurred_at": "2026-11-20T10:00:00Z",
        "evidence": {
            "ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0",
            "page_url": "https://shop.example/signup",
            "wamid": None,
            "note": None,
        },
    },
    request_only=True,
)


WITHDRAW_EXAMPLE = OpenApiExample(
    "Opt-out",
    value={"phone": "+447911123456", "purpose": "marketing", "action": "withdraw"},
    request_only=True,
)


EVENT_EXAMPLE = OpenApiExample(
    "Recorded grant",
    value={
        "id": "6f1c2d8e-3a41-4c5e-9b7a-0d2e4f6a8b1c",
        "contact": "0b5f1e2a-7c3d-4e9f-8a6b-1c2d3e4f5a6b",
        "phone": "+447911123456",
        "purpose": "marketing",
        "action": "grant",
        "source": "web_form",
        "notice": "marketing/en/1",
        "occurred_at": "2026-11-20T10:00:00Z",
        "recorded_at": "2026-11-20T10:00:01.204311Z",
        "expires_at": None,
        "paused_until": None,
        "evidence": {
            "ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0",
            "page_url": "https://shop.example/signup",
            "wamid": None,
            "prompted_by_wamid": None,
            "note": None,
        },
        "applied": True,
        "prev_hash": None,
        "hash": "9f2b5c0e7d1a4b3c8e6f0a2d4c6b8e1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b",
        "status_after": "opted_in",
    },
    response_only=True,
    status_codes=["201"],
)


class ProofEventSerializer(ConsentEventSerializer):
    notice_text = serializers.CharField(
        source="notice.text", read_only=True, allow_null=True, help_text="The full wording shown."
    )
    notice_published_at = serializers.DateTimeField(
        source="notice.published_at", read_only=True, allow_null=True
    )

    class Meta(ConsentEventSerializer.Meta):
        fields = [*ConsentEventSerializer.Meta.fields, "notice_text", "notice_published_at"]
        read_only_fields = fields


class ChainSerializer(serializers.Serializer):
    chain_valid = serializers.BooleanField()
    events = serializers.IntegerField()
    broken_event = serializers.UUIDField(allow_null=True)
    problem = serializers.CharField(allow_null=True)


class ProofContactSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    phone = PhoneField(allow_null=True)
    erased_at = serializers.DateTimeField(allow_null=True)


class ProofSerializer(serializers.Serializer):
    contact = ProofContactSerializer()
    consents = ConsentsSerializer()
    events = ProofEventSerializer(many=True)
    chain = ChainSerializer()
    generated_at = serializers.DateTimeField()


# --- The proof bundle (README, "The proof bundle"); these describe it for the schema.


class BundleContactSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    erased_at = serializers.DateTimeField(allow_null=True)


class BundleNoticeSerializer(serializers.Serializer):
    ref = serializers.CharField()
    purpose = serializers.CharField()
    language = serializers.CharField()
    version = serializers.IntegerField()
    published_at = serializers.DateTimeField(allow_null=True)
    text = serializers.CharField(help_text="The exact wording shown.")
    text_sha256 = serializers.CharField()


class BundleEventSerializer(serializers.Serializer):
    # DRF's metaclass pops declared fields, so this does not shadow the base attribute.
    fields = serializers.DictField(help_text="The chained fields exactly as hashed (form 1 or 2).")  # type: ignore[assignment]
    hash = serializers.CharField()
    evidence = serializers.DictField(
        allow_null=True,
        help_text="{salt, ip, user_agent, page_url, note}, or {erased_at, statement}.",
    )


class BundleHeadSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    hash = serializers.CharField()


class BundleChainSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    head = BundleHeadSerializer(allow_null=True)


class BundleSealSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    sealed_on = serializers.DateField()
    sealed_at = serializers.DateTimeField()
    chains = serializers.IntegerField()
    events = serializers.IntegerField()
    # DRF's metaclass pops declared fields, so this does not shadow the base attribute.
    root = serializers.CharField()  # type: ignore[assignment]
    prev_hash = serializers.CharField(allow_null=True)
    hash = serializers.CharField()
    algorithm = serializers.CharField()


class BundleLeafSerializer(serializers.Serializer):
    contact = serializers.UUIDField()
    seq = serializers.IntegerField()
    hash = serializers.CharField()


class BundleInclusionSerializer(serializers.Serializer):
    leaf = BundleLeafSerializer()
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    path = serializers.ListField(child=serializers.CharField())


class ProofBundleSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["consent-proof-bundle/1"])
    generated_at = serializers.DateTimeField()
    contact = BundleContactSerializer()
    notices = serializers.DictField(child=BundleNoticeSerializer(), help_text="By notice id.")
    events = BundleEventSerializer(many=True)
    chain = BundleChainSerializer()
    seal = BundleSealSerializer(allow_null=True)
    inclusion = BundleInclusionSerializer(allow_null=True)


class PhoneAsGivenField(serializers.CharField):
    """A phone exactly as sent: whatever it holds, the answer is a row (`invalid_phone`)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_blank=True, trim_whitespace=False, **kwargs)
        # Not even a NUL makes it a 400: it never reaches the database.
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]


class EligibilityQuerySerializer(serializers.Serializer):
    phone = PhoneAsGivenField(
        required=False, help_text="Any format; an unencoded '+' (read as a space) is understood."
    )
    whatsapp_user_id = serializers.CharField(
        required=False, max_length=128, help_text="For a person known without a phone."
    )
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    topic = serializers.CharField(
        required=False,
        max_length=64,
        help_text="A topic key under `purpose`: also needs the person's answer about it "
        "(reasons topic_opted_out, topic_no_consent).",
    )
    sending_number = serializers.CharField(
        required=False,
        max_length=64,
        help_text="A business number's phone_number_id: the answer for that number when the "
        "stop scope is `number` (a marketing stop binds the number it came through).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "phone" not in attrs and not attrs.get("whatsapp_user_id"):
            raise validation_error("phone", "Give phone or whatsapp_user_id.", "required")
        return attrs


REASONS = [
    Reason.OPTED_IN,
    Reason.LEGACY_GRACE_PERIOD,
    Reason.NO_CONSENT,
    Reason.PENDING_CONFIRMATION,
    Reason.OPTED_OUT,
    Reason.PAUSED,
    Reason.LEGACY_EXPIRED,
    Reason.UNKNOWN_CONTACT,
    Reason.INVALID_PHONE,
    # Additive (issue 25): staff blocked the person.
    Reason.BLOCKED,
    # Additive (issue 26): asked with `topic`, the topic holds it back.
    Reason.TOPIC_OPTED_OUT,
    Reason.TOPIC_NO_CONSENT,
]


class DecisionSerializer(serializers.Serializer):
    phone = serializers.CharField(
        required=False, help_text="E.164, or as given when it is not a valid phone."
    )
    allowed = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=[(r, r) for r in REASONS])
    expires_at = serializers.DateTimeField(
        required=False, help_text="With legacy_grace_period: when the grace period ends."
    )
    until = serializers.DateTimeField(required=False, help_text="With paused: when it ends.")


class EligibilitySerializer(DecisionSerializer):
    whatsapp_user_id = serializers.CharField(required=False)
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    topic = serializers.CharField(required=False, help_text="As asked.")
    reason_label = serializers.CharField(
        help_text="The reason in words, translated by Accept-Language."
    )


class PhoneListField(serializers.ListField):
    def run_child_validation(self, data: list[Any]) -> list[Any]:
        # Strings are already what the child field would return; skipping its machinery
        # per item matters with 10,000 of them.
        if all(type(item) is str for item in data):
            return list(data)
        return super().run_child_validation(data)


class BulkEligibilityInputSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    phones = PhoneListField(
        child=PhoneAsGivenField(),
        max_length=BULK_MAX_PHONES,
        help_text=f"At most {BULK_MAX_PHONES:,}.",
    )
    topic = serializers.CharField(
        required=False, max_length=64, help_text="As for one phone: narrowed to this topic."
    )
    sending_number = serializers.CharField(
        required=False,
        max_length=64,
        help_text="As for one phone: the answers for that number in `number` stop scope.",
    )


class BulkEligibilitySerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    topic = serializers.CharField(required=False, help_text="As asked.")
    results = DecisionSerializer(many=True)


ELIGIBILITY_EXAMPLES = [
    OpenApiExample(
        "Opted out",
        value={
            "phone": "+447911123456",
            "purpose": "marketing",
            "allowed": False,
            "reason": "opted_out",
            "reason_label": "Opted out",
        },
    ),
    OpenApiExample(
        "Grace period",
        value={
            "phone": "+447911123457",
            "purpose": "marketing",
            "allowed": True,
            "reason": "legacy_grace_period",
            "reason_label": "Legacy consent, in its grace period",
            "expires_at": "2027-01-31T00:00:00+00:00",
        },
    ),
]
