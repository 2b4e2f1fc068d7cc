"""Moving personal evidence out of the chain keeps every old hash verifiable."""

import importlib
import uuid
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from consent.chain import check_chain
from consent.models import ConsentEvent, ConsentEvidence
from contacts.models import Contact
from contacts.services import erase_person

moving = importlib.import_module("consent.migrations.0008_evidence_apart_from_the_chain")

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("consent", "0007_contact_imports_from_the_admin")]
AFTER = [("consent", "0008_evidence_apart_from_the_chain")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_old_events_move_their_evidence_out_and_still_verify():
    # given a ledger written before the move, evidence inline and hashed (form 1)
    apps = migrate(BEFORE)
    OldContact = apps.get_model("contacts", "Contact")
    OldEvent = apps.get_model("consent", "ConsentEvent")
    contact = OldContact.objects.create(phone="+447911123456", phone_hash="h" * 64)
    prev = None
    for seq, (action, status, ip, note) in enumerate(
        [("withdraw", "opted_out", "203.0.113.9", "said stop"), ("withdraw", "opted_out", "", "")],
        start=1,
    ):
        event = OldEvent(
            id=uuid.uuid4(),
            contact_id=contact.pk,
            seq=seq,
            purpose="marketing",
            action=action,
            source="api",
            occurred_at=datetime(2026, 1, seq, tzinfo=UTC),
            recorded_at=datetime(2026, 1, seq, tzinfo=UTC),
            ip=ip,
            user_agent="Mozilla «ü»" if ip else "",
            page_url="https://shop.example/?email=a@b.example" if ip else "",
            note=note,
            context={},
            status_after=status,
            prev_hash=prev,
        )
        event.hash = prev = moving._form_one_hash(event)
        event.save(force_insert=True)

    # when the evidence moves out (and every later migration runs: topics came after)
    migrate(AFTER)
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # then old events keep form 1, the evidence is in its own table, and the chain verifies
    events = list(ConsentEvent.objects.filter(contact_id=contact.pk).order_by("seq"))
    assert [e.form for e in events] == [1, 1]
    assert ConsentEvidence.objects.get(pk=events[0].pk).note == "said stop"
    assert not ConsentEvidence.objects.filter(pk=events[1].pk).exists()
    assert check_chain(contact.pk).valid
    call_command("verify_ledger", stdout=StringIO())

    # and after the person is erased, the old events' links still verify, their
    # evidence is gone, and the ledger says when
    erase_person(contact=Contact.objects.get(pk=contact.pk))
    assert check_chain(contact.pk).valid
    call_command("verify_ledger", stdout=StringIO())
    assert not ConsentEvidence.objects.filter(event__contact_id=contact.pk).exclude(note="")
    first = ConsentEvent.objects.get(pk=events[0].pk)
    assert first.evidence_statement.startswith("evidence erased on ")
    call_command("migrate", verbosity=0)
