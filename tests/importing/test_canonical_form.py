"""The import's SQL path writes an event's canonical form exactly as the ledger does.

`imports.sql` builds its SQL from the ledger's own definition of the form
(`consent.chain.FIELD_KINDS`, the key order, the separators); here random events
are serialised both ways and must be the same text, byte for byte.
"""

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.chain import CHAINED_FIELDS, CURRENT_FORM, FIELD_KINDS, SEPARATORS, canonical_bytes
from imports.sql import canonical_sql

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
events = st.fixed_dictionaries(
    {
        "seq": st.integers(1, 10_000),
        "purpose": text,
        "action": text,
        "source": text,
        "notice": st.none() | st.integers(1, 10**6),
        "occurred_at": moments,
        "recorded_at": moments,
        "expires_at": st.none() | moments,
        "context": st.dictionaries(text, text | st.integers(), max_size=3),
        "actor": st.none() | st.integers(1, 10**6),
        "applied": st.booleans(),
        "status_after": text,
        "prev_hash": st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
    }
)


def test_every_chained_field_has_a_kind():
    assert set(FIELD_KINDS) == set(CHAINED_FIELDS)


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the SQL path is PostgreSQL's")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=events)
def test_the_sql_canonical_form_is_the_ledgers(on_postgres, event):
    row = {
        **event,
        "id": str(uuid.uuid4()),
        "contact": str(uuid.uuid4()),
        "paused_until": None,
        "wamid": "",
        "prompted_by_wamid": "",
        "idempotency_key": None,
        "form": CURRENT_FORM,
        "evidence_digest": "",
    }
    context_text = json.dumps(
        row["context"], sort_keys=True, separators=SEPARATORS, ensure_ascii=False
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {canonical_sql('e', 'e.prev_hash')} FROM (SELECT "  # noqa: S608
            "CAST(%(id)s AS uuid) AS id, CAST(%(contact)s AS uuid) AS contact_id, "
            "CAST(%(seq)s AS integer) AS seq, CAST(%(purpose)s AS text) AS purpose, "
            "CAST(%(action)s AS text) AS action, CAST(%(source)s AS text) AS source, "
            "CAST(%(notice)s AS integer) AS notice_id, "
            "CAST(%(occurred_at)s AS timestamptz) AS occurred_at, "
            "CAST(%(recorded_at)s AS timestamptz) AS recorded_at, "
            "CAST(%(expires_at)s AS timestamptz) AS expires_at, "
            "CAST(%(context_text)s AS text) AS context_text, "
            "CAST(%(actor)s AS integer) AS actor_id, CAST(%(applied)s AS boolean) AS applied, "
            "CAST(%(status_after)s AS text) AS status_after, "
            "CAST(%(prev_hash)s AS text) AS prev_hash) e",
            {**row, "context_text": context_text},
        )
        [sql_text] = cursor.fetchone()

    assert sql_text.encode() == canonical_bytes(row)
