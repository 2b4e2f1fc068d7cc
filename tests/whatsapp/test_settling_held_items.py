"""Staff settle a failed webhook item that holds someone's messages, after reading it.

An unreadable body, or an item that kept failing, holds every message to the people it
names until a person decides (issue 21). Compliance staff decide on the item's page:
"Record an opt-out for …" (the restrictive choice, offered first) or "Looked at: no
opt-out in it". Either way the item stops holding sends, the decision is audited and
shown on the item, and what arrived stays exactly as it arrived.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consent.holds import people_named_by, record_opt_out_from_item
from consent.models import ConsentEvent
from consent.selectors import may_send
from contacts.models import Contact
from contacts.selectors import Identifiers
from staff.models import AuditEntry
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.whatsapp.helpers import post_webhook, with_message
from whatsapp import delivery, outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.models import InboundEvent, OutboundMessage
from whatsapp.services import MAX_ATTEMPTS, process_stragglers
from whatsapp.settlement import NotSettleable, Settlement, settle_inbound_event

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
CHANGELIST = "/admin/whatsapp/inboundevent/"
# A signed body that is not JSON, with Ada's number in it: it may be her STOP.
UNREADABLE = b'{"entry": [{"from": "447911123456", "text": "STOP"' + b"\xff"


def staff_user(role: str):
    user = get_user_model().objects.create_user(role.lower(), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def compliance_user(db):
    return staff_user("Compliance")


@pytest.fixture
def compliance(compliance_user) -> Client:
    client = Client()
    client.force_login(compliance_user)
    return client


@pytest.fixture
def marketing(db) -> Client:
    client = Client()
    client.force_login(staff_user("Marketing"))
    return client


@pytest.fixture
def ada_opted_in(ada, notices):
    record(ada, "grant", at=timezone.now() - timedelta(days=1))
    return ada


@pytest.fixture
def unreadable(client) -> InboundEvent:
    assert post_webhook(client, UNREADABLE).status_code == 200
    item = InboundEvent.objects.get(kind=InboundEvent.Kind.MALFORMED)
    assert item.state == InboundEvent.State.FAILED and item.carries_opt_out
    return item


def marketing_to(contact) -> OutboundMessage:
    return outbox.enqueue_template(
        address=whatsapp_address(phone=contact.phone, wa_id=contact.wa_id),
        name="winter_sale",
        language="en",
        contact_id=contact.pk,
        purpose="marketing",
        reason="campaign:test",
    )


def deliver_now(row: OutboundMessage) -> OutboundMessage:
    OutboundMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    delivery.deliver([row.pk])
    row.refresh_from_db()
    return row


def raw_of(item: InboundEvent) -> tuple:
    item.refresh_from_db()
    return item.payload, item.body, bytes(item.delivery.body)


# --- The services ----------------------------------------------------------------------------


def test_an_unreadable_body_settled_as_an_opt_out_records_it_and_stops_holding(
    ada_opted_in, unreadable, compliance_user
):
    # given Ada's campaign message, held by the unreadable body that names her
    message = marketing_to(ada_opted_in)
    assert deliver_now(message).status == Status.QUEUED
    before = raw_of(unreadable)

    # when compliance records the opt-out it may carry
    people = people_named_by(unreadable)
    assert people.contacts == [ada_opted_in] and people.new_sender is None
    [event] = record_opt_out_from_item(
        item=unreadable,
        contacts=people.contacts,
        stop_all=False,
        note="the text reads STOP",
        actor=compliance_user,
    )

    # then her ledger has the withdraw, by this user, from the admin, naming the item
    assert (event.action, event.purpose, event.source) == ("withdraw", "marketing", "admin")
    assert event.actor == compliance_user
    assert f"webhook item {unreadable.pk}" in event.note and "reads STOP" in event.note
    assert event.context["inbound_event"] == unreadable.pk
    assert not may_send(ada_opted_in, "marketing").allowed
    # the item is settled with the decision, and kept exactly as it arrived
    unreadable.refresh_from_db()
    assert unreadable.state == InboundEvent.State.SETTLED
    assert unreadable.settlement == Settlement.OPT_OUT_RECORDED
    assert (unreadable.settled_by, unreadable.settled_at is not None) == (compliance_user, True)
    assert "Ada Lovelace" in unreadable.settlement_reason
    assert raw_of(unreadable) == before
    # audited, with the acting user: the settlement and the opt-out
    actions = set(AuditEntry.objects.filter(actor_user=compliance_user).values_list("action"))
    assert actions == {("settle_inbound_event",), ("record_opt_out",)}
    settlement = AuditEntry.objects.get(action="settle_inbound_event")
    assert settlement.object_id == str(unreadable.pk)
    assert settlement.after["contacts"] == [str(ada_opted_in.pk)]
    # and the message no longer waits: the opt-out refuses it
    assert (deliver_now(message).status, message.skip_reason) == (Status.SKIPPED, "opted_out")


def test_stop_all_withdraws_service_too(ada_opted_in, unreadable, compliance_user):
    events = record_opt_out_from_item(
        item=unreadable,
        contacts=[ada_opted_in],
        stop_all=True,
        note="",
        actor=compliance_user,
    )

    assert sorted(e.purpose for e in events) == ["calls", "marketing", "service"]


def test_looked_at_with_no_opt_out_in_it_lets_the_messages_go(
    ada_opted_in, unreadable, compliance_user
):
    message = marketing_to(ada_opted_in)
    assert deliver_now(message).status == Status.QUEUED
    before = raw_of(unreadable)

    settle_inbound_event(
        item=unreadable,
        settlement=Settlement.NO_OPT_OUT,
        reason="  a delivery receipt cut short; no text from Ada  ",
        actor=compliance_user,
    )

    unreadable.refresh_from_db()
    assert (unreadable.state, unreadable.settlement) == ("settled", "no_opt_out")
    assert unreadable.settlement_reason == "a delivery receipt cut short; no text from Ada"
    assert raw_of(unreadable) == before
    entry = AuditEntry.objects.get(action="settle_inbound_event")
    assert (entry.actor_user, entry.before, entry.after["settlement"]) == (
        compliance_user,
        {"state": "failed"},
        "no_opt_out",
    )
    assert not ConsentEvent.objects.filter(action="withdraw").exists()
    assert deliver_now(message).status == Status.ACCEPTED


def test_no_opt_out_needs_a_reason(unreadable, compliance_user):
    with pytest.raises(ValueError, match="reason"):
        settle_inbound_event(
            item=unreadable, settlement=Settlement.NO_OPT_OUT, reason="  ", actor=compliance_user
        )

    unreadable.refresh_from_db()
    assert unreadable.state == InboundEvent.State.FAILED
    assert not AuditEntry.objects.exists()


def test_an_item_is_settled_once_and_a_second_decision_records_nothing(
    ada_opted_in, unreadable, compliance_user
):
    settle_inbound_event(
        item=unreadable, settlement=Settlement.NO_OPT_OUT, reason="checked", actor=compliance_user
    )

    with pytest.raises(NotSettleable):
        record_opt_out_from_item(
            item=unreadable, contacts=[ada_opted_in], stop_all=False, note="", actor=compliance_user
        )

    assert not ConsentEvent.objects.filter(action="withdraw").exists()
    assert AuditEntry.objects.filter(action="settle_inbound_event").count() == 1


def test_a_settled_item_is_never_processed_again(unreadable, compliance_user):
    settle_inbound_event(
        item=unreadable, settlement=Settlement.NO_OPT_OUT, reason="checked", actor=compliance_user
    )
    InboundEvent.objects.filter(pk=unreadable.pk).update(retry_at=timezone.now())

    process_stragglers()

    unreadable.refresh_from_db()
    assert unreadable.state == InboundEvent.State.SETTLED


def test_the_database_refuses_a_settled_item_without_its_decision(unreadable):
    with pytest.raises(IntegrityError), transaction.atomic():
        InboundEvent.objects.filter(pk=unreadable.pk).update(state=InboundEvent.State.SETTLED)


def test_an_item_that_kept_failing_names_its_sender(
    client, ada_opted_in, extra_handlers, compliance_user
):
    # given Ada's STOP, whose processing failed every time
    @extra_handlers("message")
    def failing(event):
        raise RuntimeError("the database said no")

    post_webhook(client, with_message("text_stop", at=timezone.now()))
    item = InboundEvent.objects.get(kind="message")
    process_stragglers(older_than_seconds=0)
    InboundEvent.objects.filter(pk=item.pk).update(attempts=MAX_ATTEMPTS, retry_at=None)
    item.refresh_from_db()
    assert item.state == InboundEvent.State.FAILED and item.carries_opt_out

    people = people_named_by(item)
    record_opt_out_from_item(
        item=item, contacts=people.contacts, stop_all=False, note="", actor=compliance_user
    )

    assert people.contacts == [ada_opted_in]
    assert not may_send(ada_opted_in, "marketing").allowed


def test_a_readable_item_from_someone_unknown_creates_them_opted_out(
    client, notices, extra_handlers, compliance_user
):
    @extra_handlers("message")
    def failing(event):
        raise RuntimeError("down")

    post_webhook(client, with_message("text_stop", at=timezone.now()))
    item = InboundEvent.objects.get(kind="message")
    process_stragglers(older_than_seconds=0)
    item.refresh_from_db()

    people = people_named_by(item)
    assert people.contacts == [] and people.new_sender == Identifiers(
        wa_id="447911123456", whatsapp_user_id="GB.1349857562938475"
    )
    record_opt_out_from_item(
        item=item,
        contacts=[],
        new_sender=people.new_sender,
        stop_all=False,
        note="",
        actor=compliance_user,
    )

    created = Contact.objects.get(wa_id="447911123456")
    assert may_send(created, "marketing").reason == "opted_out"


def test_an_unreadable_body_names_only_people_we_know(client, ada, notices):
    bob = ContactFactory(phone="+447911199999", wa_id="447911199999")
    body = b'{"ts": 1712345678, "from": "447911199999", "to": "447911123456", "x": "GB.NOBODY1"\xff'
    post_webhook(client, body)
    item = InboundEvent.objects.get(kind=InboundEvent.Kind.MALFORMED)

    people = people_named_by(item)

    assert {c.pk for c in people.contacts} == {ada.pk, bob.pk}
    assert people.new_sender is None


# --- The admin ---------------------------------------------------------------------------


def act(client: Client, action: str, items, **data):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(i.pk) for i in items], **data}
    )


def test_the_unprocessed_opt_outs_list_offers_both_decisions_to_compliance(compliance, unreadable):
    page = compliance.get(f"{CHANGELIST}?unprocessed_opt_out=yes")

    assert page.status_code == 200 and page.context["cl"].result_count == 1
    html = page.content.decode()
    assert html.index('value="record_opt_out_for_named"') < html.index('value="settle_no_opt_out"')
    assert 'value="reprocess"' not in html  # processing again is not theirs to do


def test_the_item_page_offers_the_opt_out_first_then_no_opt_out(compliance, ada, unreadable):
    page = compliance.get(reverse("admin:whatsapp_inboundevent_change", args=[unreadable.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Waiting for a person" in html and "447911123456" in html
    first = html.index("Record an opt-out for Ada Lovelace")
    assert first < html.index("Looked at: no opt-out in it")
    # the raw bytes, readable on the page
    assert "&quot;text&quot;: &quot;STOP&quot;" in html


def test_compliance_records_the_opt_out_through_its_confirmation_page(
    compliance, compliance_user, ada_opted_in, unreadable
):
    # the action shows the confirmation page: everyone named ticked, marketing chosen
    page = act(compliance, "record_opt_out_for_named", [unreadable])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Record an opt-out for Ada Lovelace" in html
    assert f'value="{ada_opted_in.pk}"' in html and "checked" in html
    assert not ConsentEvent.objects.filter(action="withdraw").exists()

    # confirming records it and goes back to the item, which shows the decision
    done = act(
        compliance,
        "record_opt_out_for_named",
        [unreadable],
        confirm="yes",
        people=[str(ada_opted_in.pk)],
        scope="all",
        note="STOP, cut short",
    )

    assert done.status_code == 302
    assert done["Location"] == reverse("admin:whatsapp_inboundevent_change", args=[unreadable.pk])
    withdrawn = ConsentEvent.objects.filter(action="withdraw", contact=ada_opted_in)
    assert sorted(withdrawn.values_list("purpose", flat=True)) == ["calls", "marketing", "service"]
    item_page = compliance.get(done["Location"]).content.decode()
    assert "Settled by staff: Opt-out recorded" in item_page
    assert compliance_user.username in item_page and "STOP, cut short" in item_page
    assert "Waiting for a person" not in item_page


def test_compliance_settles_as_looked_at_only_with_a_reason(
    compliance, compliance_user, unreadable
):
    page = act(compliance, "settle_no_opt_out", [unreadable], confirm="yes", reason="")
    assert page.status_code == 200 and b"This field is required" in page.content
    unreadable.refresh_from_db()
    assert unreadable.state == InboundEvent.State.FAILED

    done = act(compliance, "settle_no_opt_out", [unreadable], confirm="yes", reason="a test ping")

    assert done.status_code == 302
    unreadable.refresh_from_db()
    assert (unreadable.settlement, unreadable.settled_by) == ("no_opt_out", compliance_user)


def test_one_item_at_a_time(compliance, client, unreadable):
    post_webhook(client, UNREADABLE.replace(b"STOP", b"BAJA"))
    both = InboundEvent.objects.filter(kind=InboundEvent.Kind.MALFORMED)

    act(compliance, "settle_no_opt_out", both, confirm="yes", reason="both fine")

    assert not both.filter(state=InboundEvent.State.SETTLED).exists()


def test_marketing_staff_may_not_see_or_settle_items(marketing, unreadable):
    item_page = reverse("admin:whatsapp_inboundevent_change", args=[unreadable.pk])

    assert marketing.get(item_page).status_code == 403
    refused = act(marketing, "settle_no_opt_out", [unreadable], confirm="yes", reason="x")

    assert refused.status_code == 403
    unreadable.refresh_from_db()
    assert unreadable.state == InboundEvent.State.FAILED


def test_an_item_that_names_nobody_we_know_offers_no_opt_out(compliance, client, notices):
    post_webhook(client, b'{"from": "15550001111", "text": "STOP"\xff')
    item = InboundEvent.objects.get(kind=InboundEvent.Kind.MALFORMED)

    answer = act(compliance, "record_opt_out_for_named", [item])

    assert answer.status_code == 302
    item.refresh_from_db()
    assert item.state == InboundEvent.State.FAILED


def test_a_processed_item_shows_no_decision(staff_client, deliver, ada, notices):
    deliver(with_message("text_stop", at=timezone.now()))
    item = InboundEvent.objects.get(kind="message")

    page = staff_client.get(reverse("admin:whatsapp_inboundevent_change", args=[item.pk]))

    assert b"Waiting for a person" not in page.content
