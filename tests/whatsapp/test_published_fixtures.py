"""Webhook payloads as others published them, each with the outcome the product's rules give.

The fixtures in `fixtures/` come from client libraries' test data (pywa), a
payload cloned from production by another project (meedan/check-api) and Meta's
reference pages; `fixtures/ORIGINS.md` says where each was published and what
was filled in. Every one is posted as its exact bytes, signed, and processed
in-process (eager Celery); a group of them also goes through a real Celery
worker consuming from Redis.
"""

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings as django_settings

from config.celery import app
from consent.models import ConsentEvent, ConsentNotice
from consent.selectors import WhatsAppUserId, may_send
from consent.services import record_consent
from contacts.models import Contact, IdentityChange
from conversation.models import OptOutReview
from tests import environment
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory
from tests.whatsapp.helpers import post_webhook
from tests.whatsapp.workers import clear_queue
from whatsapp.models import InboundEvent, OutboundMessage, ServiceWindow

FIXTURES = Path(__file__).parent / "fixtures"

# The people the fixtures speak of (see ORIGINS.md).
ADA_PHONE, ADA_WA_ID = "+447911123456", "447911123456"
ADA_NEW_PHONE, ADA_NEW_WA_ID = "+447911123999", "447911123999"
ADA_BSUID, ADA_PARENT_BSUID = "GB.13491208655302741918", "GB.ENT.11815799212886844830"
ADA_NEW_BSUID = "GB.20580017345126634102"
BAJA_SENDER_PHONE, BAJA_SENDER_WA_ID = "+447911123457", "447911123457"
SHEENA_BSUID, SHEENA_PARENT_BSUID = "US.13491208655302741918", "US.ENT.11815799212886844830"
SHEENA_NEW_BSUID = "US.27705219034185529364"
SHEENA_USERNAME = "@realsheenanelson"


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def value_of(name: str) -> dict:
    return json.loads(raw(name))["entry"][0]["changes"][0]["value"]


def item_of(name: str) -> dict:
    value = value_of(name)
    for key in ("messages", "statuses", "user_preferences", "user_id_update"):
        if value.get(key):
            return value[key][0]
    raise AssertionError(f"{name}: no item")


def sent_at(name: str) -> datetime:
    return datetime.fromtimestamp(int(item_of(name)["timestamp"]), tz=UTC)


def answered_wamid(name: str) -> str:
    """The id of our message a reply answers (context.id)."""
    return item_of(name)["context"]["id"]


# --- What the people had before the delivery ------------------------------------------------


# The CRM's own id for each person: nothing the platform says ever changes it, so
# the outcome is read from the record the setup made, whatever identifiers moved.
ADA_REF, SHEENA_REF = "crm-ada", "crm-sheena"


def ada() -> Contact:
    found = Contact.objects.filter(external_id=ADA_REF).first()
    return found or ContactFactory(
        external_id=ADA_REF,
        phone=ADA_PHONE,
        wa_id=ADA_WA_ID,
        whatsapp_user_id=ADA_BSUID,
        parent_user_id=ADA_PARENT_BSUID,
        name="Ada Lovelace",
    )


def known_ada() -> Contact:
    return Contact.objects.get(external_id=ADA_REF)


def known_sheena() -> Contact:
    return Contact.objects.get(external_id=SHEENA_REF)


def nobody_known(name: str) -> None:
    pass


def ada_opted_in(name: str) -> None:
    record(ada(), "grant", at=sent_at(name) - timedelta(days=1))


def ada_opted_out(name: str) -> None:
    record(ada(), "grant", at=sent_at(name) - timedelta(days=2))
    record(ada(), "withdraw", at=sent_at(name) - timedelta(days=1))


def _our_message_to_ada(name: str, kind: str, notice_refs: list[str]) -> None:
    OutboundMessage.objects.create(
        wamid=answered_wamid(name),
        to=ADA_WA_ID,
        contact_id=ada().pk,
        kind=kind,
        payload={},
        notice_refs=notice_refs,
        backend="console",
        status=OutboundMessage.Status.ACCEPTED,
        created_at=sent_at(name) - timedelta(hours=1),
    )


def ada_was_asked_with_the_marketing_notice(name: str) -> None:
    _our_message_to_ada(name, OutboundMessage.Kind.BUTTONS, ["marketing/en/1"])


def ada_opted_in_and_was_asked(name: str) -> None:
    ada_opted_in(name)
    ada_was_asked_with_the_marketing_notice(name)


def ada_opted_in_and_got_a_template(name: str) -> None:
    ada_opted_in(name)
    _our_message_to_ada(name, OutboundMessage.Kind.TEMPLATE, ["marketing/en/1"])


def sheena_known_by_user_id_only_and_opted_out(name: str) -> None:
    sheena = ContactFactory(
        external_id=SHEENA_REF,
        phone=None,
        wa_id=None,
        whatsapp_user_id=SHEENA_BSUID,
        parent_user_id=SHEENA_PARENT_BSUID,
        username=SHEENA_USERNAME,
        name="Sheena Nelson",
    )
    record(sheena, "grant", at=sent_at(name) - timedelta(days=2))
    record(sheena, "withdraw", at=sent_at(name) - timedelta(days=1))


# --- The outcome ------------------------------------------------------------------------------


def ledger(contact: Contact) -> list[tuple[str, str, str, str]]:
    return list(
        ConsentEvent.objects.filter(contact=contact)
        .order_by("seq")
        .values_list("purpose", "action", "source", "status_after")
    )


def marketing_reason(who: Contact | str) -> str:
    return may_send(who, "marketing").reason


def withdrawn_by(source: str, who: Callable[[], Contact]) -> Callable[[str], None]:
    def then(name: str) -> None:
        contact = who()
        assert ledger(contact)[-1] == ("marketing", "withdraw", source, "opted_out")
        event = ConsentEvent.objects.filter(contact=contact).latest("seq")
        assert event.applied
        assert marketing_reason(contact) == "opted_out"

    return then


def ada_withdrew_by(source: str) -> Callable[[str], None]:
    def then(name: str) -> None:
        withdrawn_by(source, known_ada)(name)
        assert marketing_reason(ADA_PHONE) == "opted_out"

    return then


def ada_unchanged_and_opted_in(name: str) -> None:
    assert ledger(known_ada()) == [("marketing", "grant", "api", "opted_in")]
    assert marketing_reason(ADA_PHONE) == "opted_in"


def no_consent_change(name: str) -> None:
    """Nothing but what the setup recorded (Ada's grant, if any)."""
    assert not ConsentEvent.objects.exclude(source="api").exists()


def window_opened_for(*recipients: str) -> Callable[[str], None]:
    def then(name: str) -> None:
        for recipient in recipients:
            window = ServiceWindow.objects.filter(recipient=recipient).first()
            assert window is not None, f"no service window for {recipient}"
            assert window.last_inbound_at == sent_at(name)

    return then


def no_window_for(*recipients: str) -> None:
    opened = set(
        ServiceWindow.objects.filter(recipient__in=recipients).values_list("recipient", flat=True)
    )
    assert not opened, f"a system message opened the service window for {sorted(opened)}"


def all_of(*checks: Callable[[str], None]) -> Callable[[str], None]:
    def then(name: str) -> None:
        for check in checks:
            check(name)

    return then


def a_stop_from_ada_withdraws_marketing(name: str) -> None:
    ada_withdrew_by("whatsapp_keyword")(name)
    window_opened_for(ADA_WA_ID)(name)


def a_baja_from_a_new_sender_creates_them_opted_out(name: str) -> None:
    sender = Contact.objects.get(wa_id=BAJA_SENDER_WA_ID)
    assert str(sender.phone) == BAJA_SENDER_PHONE
    assert ledger(sender) == [("marketing", "withdraw", "whatsapp_keyword", "opted_out")]
    assert marketing_reason(BAJA_SENDER_PHONE) == "opted_out"
    window_opened_for(BAJA_SENDER_WA_ID)(name)


def the_button_withdraws_as_an_answer_to_our_message(name: str) -> None:
    ada_withdrew_by("whatsapp_button")(name)
    event = ConsentEvent.objects.filter(contact=known_ada()).latest("seq")
    assert event.prompted_by_wamid == answered_wamid(name)


def the_button_grants_with_the_notice_our_message_carried(name: str) -> None:
    assert ledger(known_ada()) == [("marketing", "grant", "whatsapp_button", "opted_in")]
    event = ConsentEvent.objects.get(contact=known_ada())
    assert event.notice.ref == "marketing/en/1"
    assert event.prompted_by_wamid == answered_wamid(name)
    assert marketing_reason(ADA_PHONE) == "opted_in"


def the_resume_is_kept_but_is_no_opt_in(name: str) -> None:
    assert ledger(known_ada())[-1] == ("marketing", "withdraw", "api", "opted_out")
    assert ConsentEvent.objects.count() == 2
    assert marketing_reason(ADA_PHONE) == "opted_out"
    row = InboundEvent.objects.get()
    assert row.kind == InboundEvent.Kind.USER_PREFERENCE
    kept = row.payload["entry"][0]["changes"][0]["value"]["user_preferences"][0]
    assert (kept["category"], kept["value"]) == ("marketing_messages", "resume")


def ada_moves_to_her_new_number_still_opted_out(name: str) -> None:
    moved = known_ada()
    assert moved.wa_id == ADA_NEW_WA_ID
    assert str(moved.phone) == ADA_NEW_PHONE
    assert Contact.objects.count() == 1
    changes = IdentityChange.objects.filter(contact=moved, source="user_changed_number")
    assert {(c.old_value, c.new_value) for c in changes} & {
        (ADA_WA_ID, ADA_NEW_WA_ID),
        (ADA_PHONE, ADA_NEW_PHONE),
    }
    assert marketing_reason(ADA_NEW_PHONE) == "opted_out"
    assert marketing_reason(moved) == "opted_out"
    no_window_for(ADA_WA_ID, ADA_NEW_WA_ID, ADA_BSUID)


def the_new_user_id_is_sheenas_and_still_opted_out(name: str) -> None:
    sheena = known_sheena()
    assert sheena.whatsapp_user_id == SHEENA_NEW_BSUID
    assert Contact.objects.count() == 1
    assert IdentityChange.objects.filter(
        contact=sheena,
        kind=IdentityChange.Kind.USER_ID,
        old_value=SHEENA_BSUID,
        new_value=SHEENA_NEW_BSUID,
    ).exists()
    assert marketing_reason(WhatsAppUserId(SHEENA_NEW_BSUID)) == "opted_out"
    no_window_for(SHEENA_BSUID, SHEENA_NEW_BSUID)


def the_new_user_id_is_adas_and_still_opted_out(name: str) -> None:
    updated = known_ada()
    assert updated.whatsapp_user_id == ADA_NEW_BSUID
    assert IdentityChange.objects.filter(
        contact=updated,
        kind=IdentityChange.Kind.USER_ID,
        old_value=ADA_BSUID,
        new_value=ADA_NEW_BSUID,
    ).exists()
    assert marketing_reason(WhatsAppUserId(ADA_NEW_BSUID)) == "opted_out"
    # The update names her current number: no second, permissive record of her may appear.
    assert not may_send(ADA_NEW_PHONE, "marketing").allowed
    no_window_for(ADA_NEW_WA_ID, ADA_BSUID, ADA_NEW_BSUID)


def a_stop_in_a_group_is_queued_for_review(name: str) -> None:
    ada_unchanged_and_opted_in(name)
    review = OptOutReview.objects.get(wamid=item_of(name)["id"])
    assert review.contact_id == known_ada().pk
    assert review.decision == OptOutReview.Decision.PENDING


def the_username_senders_opt_out_applies(name: str) -> None:
    sheena = Contact.objects.get(whatsapp_user_id=SHEENA_BSUID)
    assert sheena.phone is None and sheena.wa_id is None
    assert sheena.parent_user_id == SHEENA_PARENT_BSUID
    assert sheena.username == SHEENA_USERNAME
    assert ledger(sheena) == [("marketing", "withdraw", "whatsapp_keyword", "opted_out")]
    assert marketing_reason(WhatsAppUserId(SHEENA_BSUID)) == "opted_out"


def stored_and_ignored(name: str) -> None:
    ada_unchanged_and_opted_in(name)
    assert InboundEvent.objects.get().kind == InboundEvent.Kind.MESSAGE


def calls_notice() -> ConsentNotice:
    """The wording of our call permission request, published."""
    return NoticeFactory(purpose="calls", language="en", version=1)


def ada_opted_in_and_asked_for_calls(name: str) -> None:
    ada_opted_in(name)
    calls_notice()


def ada_opted_in_and_allowed_calls(name: str) -> None:
    ada_opted_in(name)
    record_consent(
        contact=ada(),
        purpose="calls",
        action="grant",
        source="whatsapp_platform",
        notice=calls_notice(),
        occurred_at=sent_at(name) - timedelta(days=1),
        expires_at=sent_at(name) + timedelta(days=6),
    )


def calls_reply(name: str) -> dict:
    return item_of(name)["interactive"]["call_permission_reply"]


def ada_may_be_called_for_seven_days(name: str) -> None:
    ada_ = known_ada()
    assert ledger(ada_)[-1] == ("calls", "grant", "whatsapp_platform", "opted_in")
    event = ConsentEvent.objects.filter(contact=ada_).latest("seq")
    ends = datetime.fromtimestamp(calls_reply(name)["expiration_timestamp"], tz=UTC)
    assert (event.expires_at, event.prompted_by_wamid) == (ends, answered_wamid(name))
    assert event.notice.ref == "calls/en/1"
    assert may_send(ADA_PHONE, "calls", at=ends - timedelta(seconds=1)).allowed
    assert may_send(ADA_PHONE, "calls", at=ends).reason == "legacy_expired"
    assert marketing_reason(ADA_PHONE) == "opted_in"


def ada_may_be_called_for_good(name: str) -> None:
    ada_ = known_ada()
    assert ledger(ada_)[-1] == ("calls", "grant", "whatsapp_platform", "opted_in")
    assert ConsentEvent.objects.filter(contact=ada_).latest("seq").expires_at is None
    assert may_send(ADA_PHONE, "calls", at=sent_at(name) + timedelta(days=3650)).allowed


def ada_took_back_the_call_permission(name: str) -> None:
    assert ledger(known_ada())[-1] == ("calls", "withdraw", "whatsapp_platform", "opted_out")
    assert may_send(ADA_PHONE, "calls").reason == "opted_out"
    assert marketing_reason(ADA_PHONE) == "opted_in"


# --- The table: every published fixture and what must come of it -----------------------------


@dataclass(frozen=True)
class Published:
    fixture: str
    given: Callable[[str], None]
    then: Callable[[str], None]
    behaviour: str

    def param(self):
        return pytest.param(self, id=f"{self.fixture}: {self.behaviour}")


PUBLISHED = [
    Published(
        "text_stop",
        ada_opted_in,
        a_stop_from_ada_withdraws_marketing,
        "a STOP typed by a person withdraws marketing (whatsapp_keyword)",
    ),
    Published(
        "text_baja",
        nobody_known,
        a_baja_from_a_new_sender_creates_them_opted_out,
        "BAJA from an unknown sender creates the contact, opted out",
    ),
    Published(
        "interactive_button_reply_withdraw",
        ada_opted_in_and_was_asked,
        the_button_withdraws_as_an_answer_to_our_message,
        "reply button consent:marketing:withdraw withdraws (whatsapp_button)",
    ),
    Published(
        "interactive_button_reply_grant",
        ada_was_asked_with_the_marketing_notice,
        the_button_grants_with_the_notice_our_message_carried,
        "reply button consent:marketing:grant grants with notice marketing/en/1",
    ),
    Published(
        "template_quick_reply_withdraw",
        ada_opted_in_and_got_a_template,
        the_button_withdraws_as_an_answer_to_our_message,
        "template quick reply consent:marketing:withdraw withdraws",
    ),
    Published(
        "status_sent", ada_opted_in, ada_unchanged_and_opted_in, "a sent status changes no consent"
    ),
    Published(
        "status_delivered",
        ada_opted_in,
        ada_unchanged_and_opted_in,
        "a delivered status changes no consent",
    ),
    Published(
        "status_read", ada_opted_in, ada_unchanged_and_opted_in, "a read status changes no consent"
    ),
    Published(
        "status_failed_130472",
        ada_opted_in,
        ada_unchanged_and_opted_in,
        "a failed status with another error changes no consent",
    ),
    Published(
        "status_failed_131049_no_contacts",
        ada_opted_in,
        ada_unchanged_and_opted_in,
        "a failed status without contacts[] (131049) changes no consent",
    ),
    Published(
        "status_delivered_to_bsuid",
        ada_opted_in,
        all_of(ada_unchanged_and_opted_in, no_consent_change),
        "a status for a message sent to a user id changes no consent",
    ),
    Published(
        "status_failed_131050",
        ada_opted_in,
        ada_withdrew_by("whatsapp_platform"),
        "a failed status with 131050 withdraws marketing (whatsapp_platform)",
    ),
    Published(
        "user_preferences_stop",
        ada_opted_in,
        ada_withdrew_by("whatsapp_platform"),
        "user_preferences marketing_messages stop withdraws (whatsapp_platform)",
    ),
    Published(
        "user_preferences_resume",
        ada_opted_out,
        the_resume_is_kept_but_is_no_opt_in,
        "user_preferences resume is kept as evidence, never an opt-in",
    ),
    Published(
        "system_user_changed_number",
        ada_opted_out,
        ada_moves_to_her_new_number_still_opted_out,
        "user_changed_number moves the contact to the new number, still opted out",
    ),
    Published(
        "system_user_changed_user_id",
        sheena_known_by_user_id_only_and_opted_out,
        the_new_user_id_is_sheenas_and_still_opted_out,
        "user_changed_user_id moves the contact to the new user id, still opted out",
    ),
    Published(
        "system_user_changed_user_id_with_phone",
        ada_opted_out,
        the_new_user_id_is_adas_and_still_opted_out,
        "user_changed_user_id (phone shared) moves the contact to the new user id, still opted out",
    ),
    Published(
        "user_id_update",
        ada_opted_out,
        the_new_user_id_is_adas_and_still_opted_out,
        "user_id_update moves the contact to the new user id, still opted out",
    ),
    Published(
        "group_text_stop",
        ada_opted_in,
        a_stop_in_a_group_is_queued_for_review,
        "a STOP typed in a group withdraws nothing and is queued for review",
    ),
    Published(
        "username_only_text",
        nobody_known,
        all_of(window_opened_for(SHEENA_BSUID), no_consent_change),
        "a question from a username-only sender opens the window by user id, records nothing",
    ),
    Published(
        "username_only_unsubscribe",
        nobody_known,
        all_of(the_username_senders_opt_out_applies, window_opened_for(SHEENA_BSUID)),
        "an UNSUBSCRIBE from a username-only sender creates them (user id, username) opted out",
    ),
    Published(
        "call_permission_reply_accept",
        ada_opted_in_and_asked_for_calls,
        ada_may_be_called_for_seven_days,
        "an accepted call permission is a calls grant until its expiration_timestamp",
    ),
    Published(
        "call_permission_reply_accept_permanent",
        ada_opted_in_and_asked_for_calls,
        ada_may_be_called_for_good,
        "a permanent call permission is a calls grant without end",
    ),
    Published(
        "call_permission_reply_reject",
        ada_opted_in_and_allowed_calls,
        ada_took_back_the_call_permission,
        "a rejected call permission withdraws calls, and only calls",
    ),
    Published("reaction", ada_opted_in, stored_and_ignored, "a reaction is stored and ignored"),
    Published("location", ada_opted_in, stored_and_ignored, "a location is stored and ignored"),
    Published("image", ada_opted_in, stored_and_ignored, "an image is stored and ignored"),
]

THROUGH_THE_WORKER = {
    "text_stop",
    "interactive_button_reply_grant",
    "status_failed_131050",
    "user_preferences_stop",
    "user_preferences_resume",
    "system_user_changed_number",
    "user_id_update",
    "group_text_stop",
    "username_only_unsubscribe",
    "call_permission_reply_reject",
    "reaction",
}


def _then(case: Published, response) -> None:
    assert response.status_code == 200
    rows = list(InboundEvent.objects.all())
    assert rows, "nothing was stored"
    for row in rows:
        assert row.state == InboundEvent.State.PROCESSED, (row.kind, row.error)
    case.then(case.fixture)


# --- In-process: every fixture ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("case", [case.param() for case in PUBLISHED])
def test_a_published_payload_has_the_outcome_the_rules_give(deliver, notices, case):
    # given
    case.given(case.fixture)

    # when its exact bytes arrive, signed
    response = deliver(raw(case.fixture))

    # then
    _then(case, response)


@pytest.mark.django_db
def test_every_fixture_has_an_expected_outcome_and_a_noted_origin():
    files = {path.stem for path in FIXTURES.glob("*.json")}
    origins = (FIXTURES / "ORIGINS.md").read_text()
    headings = [line for line in origins.splitlines() if line.startswith("### ")]
    noted = {name for line in headings for name in re.findall(r"`(\w+)\.json`", line)}

    assert files == {case.fixture for case in PUBLISHED}
    assert files == noted
    assert files >= THROUGH_THE_WORKER


# --- Through a real Celery worker on Redis ------------------------------------------------------

# This xdist worker's Redis database for Celery queues (tests/environment.py).
BROKER_URL = environment.BROKER_URL

PROCESS_TASK = "whatsapp.tasks.process_inbound_events"


def _forget_routing() -> None:
    # Connections and queue declarations are cached on the app: rebuild them
    # from the configuration this fixture sets (and restores).
    app.__dict__.pop("amqp", None)
    app._pool = None


@dataclass
class WorkerRun:
    processed: threading.Event = field(default_factory=threading.Event)
    threads: list[str] = field(default_factory=list)


@pytest.fixture
def redis_worker(settings):
    """A worker in this process (so it shares the test database) consuming from Redis."""
    try:
        redis.Redis.from_url(BROKER_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as error:
        pytest.fail(f"the worker tests need Redis at {BROKER_URL}: {error}")
    # Saved before anything changes: the Celery app reads Django's settings lazily, and
    # restoring what it read after the change would leave later tests not eager.
    keys = ("broker_url", "task_always_eager", "broker_transport_options", "task_default_queue")
    saved = {key: app.conf.get(key) for key in keys}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # A queue of this run's own: a message left by an interrupted run is not taken for ours.
    queue = f"published-fixtures-{uuid.uuid4().hex[:12]}"
    app.conf.update(
        broker_url=BROKER_URL,
        task_always_eager=False,
        broker_transport_options={},
        task_default_queue=queue,
    )
    _forget_routing()
    run = WorkerRun()

    # After the task returns, its transaction has committed: waiting on this, not
    # polling tables, keeps SQLite's shared in-memory database free of contention.
    def _done(sender=None, **kwargs):
        if getattr(sender, "name", "") == PROCESS_TASK:
            run.threads.append(threading.current_thread().name)
            run.processed.set()

    task_postrun.connect(_done, weak=False)
    try:
        # The test's own default queue, and the queue production routes webhook items to.
        clear_queue(BROKER_URL, django_settings.INBOUND_QUEUE)
        queues = [queue, django_settings.INBOUND_QUEUE]
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=queues
        ):
            yield run
    finally:
        task_postrun.disconnect(_done)
        app.conf.update(saved)
        _forget_routing()
        clear_queue(BROKER_URL, queue)
        clear_queue(BROKER_URL, django_settings.INBOUND_QUEUE)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "case", [case.param() for case in PUBLISHED if case.fixture in THROUGH_THE_WORKER]
)
def test_a_published_payload_has_the_same_outcome_through_a_real_worker(
    client, redis_worker, notices, case
):
    # given
    case.given(case.fixture)

    # when its exact bytes arrive, signed (the view commits, then enqueues to Redis)
    response = post_webhook(client, raw(case.fixture))

    # then the worker, not this process, processes it
    assert redis_worker.processed.wait(timeout=30), "the worker did not process the delivery"
    assert redis_worker.threads[0] != threading.main_thread().name
    _then(case, response)
