"""An import, by either path (COPY and set-based statements on PostgreSQL, record_consent
per row), leaves the dashboard's counts exact: the tally triggers see every state it wrote."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent.models import ConsentState
from consent.rules import Purpose, Status
from console.selectors import state_tallies
from contacts.models import Contact
from tests.factories import ContactFactory, NoticeFactory, PolicyFactory

pytestmark = pytest.mark.django_db


def recounted() -> dict[tuple[str, str], int]:
    counts = Counter(ConsentState.objects.values_list("purpose", "status"))
    contacts = Contact.objects.count()
    result = {}
    for purpose in Purpose.values:
        stored = {s: counts.get((purpose, s), 0) for s in Status.values if s != Status.NONE}
        result.update({(purpose, s): n for s, n in stored.items()})
        result[(purpose, Status.NONE)] = contacts - sum(stored.values())
    return result


def tallied() -> dict[tuple[str, str], int]:
    return {(p, s): t.count for p, by in state_tallies().items() for s, t in by.items()}


@pytest.mark.parametrize("method", ["fast", "rows"])
def test_an_import_leaves_the_dashboard_counts_exact(contacts_file, run_import, method):
    if method == "fast" and connection.vendor != "postgresql":
        pytest.skip("the fast path is PostgreSQL's")
    NoticeFactory(purpose="marketing")
    PolicyFactory(deadline=timezone.now() + timedelta(days=60))
    known = ContactFactory(phone="+447911200001")
    header = ["phone", "name", "marketing_status", "service_status"]
    rows = [[known.phone, "Known", "opted_out", "legacy"]]
    rows += [
        [f"+4479112{i:05d}", f"New {i}", ["legacy", "opted_out", ""][i % 3], ["", "legacy"][i % 2]]
        for i in range(10, 40)
    ]

    report = run_import(contacts_file(header, *rows), method=method)

    assert report.ok
    assert tallied() == recounted()
