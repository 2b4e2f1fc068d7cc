"""Form 3 chains the topic; forms 1 and 2 still verify unchanged, in Python, in SQL and
offline (scripts/verify_proof.py)."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.chain import CURRENT_FORM, FIELDS_OF_FORM, canonical_fields, event_hash, event_row
from consent.models import ConsentEvent
from consent.proof import proof_bundle
from consent.rules import Action
from consent.sql import verify_in_database
from consent.verification import verify_ledger
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.ledger_tampering import tamper
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_proof.py"

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)


def append_raw(contact, *, form: int, topic: str | None, context: dict | None = None):
    """An event as a writer of `form` made it, hashed by the ledger's own canonical form."""
    last = ConsentEvent.objects.filter(contact=contact).order_by("-seq").first()
    now = timezone.now()
    event = ConsentEvent(
        id=uuid.uuid4(),
        contact=contact,
        seq=last.seq + 1 if last else 1,
        purpose="marketing",
        topic=topic,
        action="withdraw",
        source="api",
        occurred_at=now,
        recorded_at=now,
        context=context or {},
        status_after="opted_out",
        form=form,
        prev_hash=last.hash if last else None,
    )
    event.hash = event_hash(event)
    event.save(force_insert=True)
    return event


def test_the_current_form_is_three_and_adds_only_the_topic():
    assert CURRENT_FORM == 3
    assert set(FIELDS_OF_FORM[3]) - set(FIELDS_OF_FORM[2]) == {"topic"}


def test_a_form_two_event_hashes_no_topic_and_a_form_three_event_does():
    contact = ContactFactory()
    old = append_raw(contact, form=2, topic=None)
    new = append_raw(contact, form=3, topic=None)

    assert "topic" not in canonical_fields(event_row(old))
    assert canonical_fields(event_row(new))["topic"] is None
    assert verify_ledger().valid


def test_form_two_events_written_before_topics_still_verify_beside_topic_events(offers):
    contact = ContactFactory()
    append_raw(contact, form=2, topic=None)
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)

    assert [e.form for e in ConsentEvent.objects.filter(contact=contact)] == [2, 3, 3]
    assert verify_ledger().valid


@pytest.mark.postgres
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.sampled_from([2, 3]),
    topic=st.none() | text,
    context=st.dictionaries(text, text | st.integers(), max_size=3),
)
def test_postgresql_hashes_forms_two_and_three_as_python_does(form, topic, context):
    if connection.vendor != "postgresql":
        pytest.skip("the database hashes on PostgreSQL only")
    contact = ContactFactory()
    append_raw(contact, form=form, topic=topic if form == 3 else None, context=context)

    found = verify_in_database((contact.pk, uuid.UUID(int=contact.pk.int + 1)))

    assert (found.suspects, found.events) == ([], 1)


@pytest.mark.postgres
def test_postgresql_finds_a_changed_topic(offers):
    if connection.vendor != "postgresql":
        pytest.skip("the database hashes on PostgreSQL only")
    contact = ContactFactory()
    record(contact, Action.GRANT)
    event = answer_topic(contact, offers, Action.GRANT)

    tamper(event.pk, "topic", "offerz")

    assert verify_in_database((None, None)).suspects == [contact.pk]


def verify_offline(tmp_path, bundle: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(path)], capture_output=True, text=True, check=False
    )


def test_a_bundle_with_forms_two_and_three_and_a_topic_verifies_offline(tmp_path, offers):
    contact = ContactFactory()
    append_raw(contact, form=2, topic=None)
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)

    bundle = proof_bundle(contact)
    checked = verify_offline(tmp_path, bundle)

    assert [e["fields"].get("topic", "-") for e in bundle["events"]] == ["-", None, "offers"]
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_bundle_whose_topic_was_changed_fails_offline(tmp_path, offers):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    answer_topic(contact, offers, Action.GRANT)
    bundle = proof_bundle(contact)

    bundle["events"][1]["fields"]["topic"] = "new_arrivals"
    checked = verify_offline(tmp_path, bundle)

    assert checked.returncode == 1
    assert "event #2: its fields do not give its hash" in checked.stdout


def test_a_bundle_that_drops_the_topic_field_fails_offline(tmp_path, offers):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    bundle = proof_bundle(contact)

    del bundle["events"][0]["fields"]["topic"]
    checked = verify_offline(tmp_path, bundle)

    assert checked.returncode == 1
    assert "fields are not those of form 3" in checked.stdout
