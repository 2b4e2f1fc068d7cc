"""The preview counts in SQL what `decide()` says in Python: the same rule table, two forms."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import FilteredRelation, Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Campaign, CampaignKind
from campaigns.selectors import NO_WHATSAPP_ADDRESS, preview_campaign
from consent.models import ConsentState
from consent.rules import Status
from consent.selectors import ALLOWED_BY_REASON, DECISION_RULES, decide, reason_expression
from contacts.models import Contact
from whatsapp.addressing import whatsapp_address

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)
# Around `at` to the microsecond, where `at >= instant` flips, and far from it.
OFFSETS = [timedelta(days=-40), timedelta(microseconds=-1), timedelta(0), timedelta(microseconds=1)]
instants = st.one_of(st.none(), st.sampled_from(OFFSETS).map(lambda d: AT + d))
stored_states = st.tuples(
    st.sampled_from([None, *Status.values]),  # None: no state row at all
    instants,
    instants,
    st.booleans(),  # known by phone (else by business-scoped user id only)
)


def _make(index: int, status, expires_at, paused_until, by_phone: bool) -> Contact:
    contact = Contact.objects.create(
        phone=f"+4479111{index:05d}" if by_phone else None,
        whatsapp_user_id=None if by_phone else f"GB.{index}",
        name=f"Contact {index}",
    )
    if status is not None:
        ConsentState.objects.create(
            contact=contact,
            purpose="marketing",
            status=status,
            expires_at=expires_at,
            paused_until=paused_until,
        )
    return contact


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(states=st.lists(stored_states, min_size=1, max_size=12))
def test_sql_reason_of_every_contact_is_decides_reason(states):
    # given contacts in random stored states, some with no state row
    try:
        contacts = {_make(i, *state).pk: state for i, state in enumerate(states)}

        # when the rule table is evaluated by the database
        rows = (
            Contact.objects.filter(pk__in=contacts)
            .annotate(
                state=FilteredRelation(
                    "consent_states", condition=Q(consent_states__purpose="marketing")
                )
            )
            .annotate(reason=reason_expression(AT, prefix="state__"))
            .values_list("pk", "reason")
        )
        in_sql = dict(rows)

        # then each contact's reason is the one decide() gives in Python
        for pk, (status, expires_at, paused_until, _) in contacts.items():
            in_python = decide(status, expires_at=expires_at, paused_until=paused_until, at=AT)
            assert in_sql[pk] == in_python.reason
            assert ALLOWED_BY_REASON[in_sql[pk]] == in_python.allowed
    finally:
        Contact.objects.all().delete()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(states=st.lists(stored_states, min_size=1, max_size=12))
def test_preview_totals_are_decide_tallied_contact_by_contact(states):
    # given a campaign for everyone and contacts in random stored states
    campaign = Campaign.objects.create(
        name="all", kind=CampaignKind.MARKETING, purpose="marketing", template_name="offer"
    )
    try:
        contacts = [_make(i, *state) for i, state in enumerate(states)]

        # when previewed
        preview = preview_campaign(campaign=campaign, at=AT)

        # then the counts are decide() and the sender's addressing, one contact at a time
        eligible, ineligible = Counter(), Counter()
        for contact, (status, expires_at, paused_until, _) in zip(contacts, states, strict=True):
            decision = decide(status, expires_at=expires_at, paused_until=paused_until, at=AT)
            address = whatsapp_address(
                phone=contact.phone,
                wa_id=contact.wa_id,
                user_id=contact.whatsapp_user_id,
                parent_user_id=contact.parent_user_id,
            )
            if not decision.allowed:
                ineligible[decision.reason] += 1
            elif address is None:
                ineligible[NO_WHATSAPP_ADDRESS] += 1
            else:
                eligible[decision.reason] += 1
        assert preview.eligible_reasons == dict(eligible)
        assert preview.ineligible == dict(ineligible)
        assert preview.total == len(states)
    finally:
        Contact.objects.all().delete()
        campaign.delete()


def test_every_row_of_the_rule_table_is_reachable():
    # A row shadowed by an earlier one would be dead in both forms alike.
    reasons = set()
    for rule in DECISION_RULES:
        lapsed = AT - timedelta(days=1)
        kwargs = {rule.lapsed: lapsed} if rule.lapsed else {}
        if not rule.lapsed and rule.reports:
            kwargs = {rule.reports: AT + timedelta(days=1)}
        reasons.add((rule.status, decide(rule.status, at=AT, **kwargs).reason))
    assert reasons == {(r.status, r.reason) for r in DECISION_RULES}
