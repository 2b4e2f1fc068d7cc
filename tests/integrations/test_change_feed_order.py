"""The change feed's cursor: every change exactly once, whatever order writers commit in."""

import random
import threading
import time

import pytest
from django.db import connection, connections, transaction

from integrations.feed import START, Cursor, InvalidCursor
from integrations.models import ChangeType
from integrations.selectors import read_changes
from integrations.services import record_change


def write(n: int) -> int:
    with transaction.atomic():
        return record_change(type=ChangeType.CAMPAIGN_FINISHED, data={"n": n}).pk


def follow(cursor: Cursor) -> tuple[list[int], Cursor]:
    seen: list[int] = []
    while True:
        page, cursor = read_changes(after=cursor, limit=7)
        if not page:
            return seen, cursor
        seen += [change.data["n"] for change in page]


# Committed for real: on PostgreSQL a test's own open transaction holds the horizon back.
@pytest.mark.django_db(transaction=True)
def test_a_reader_following_the_cursor_reads_each_change_once_in_order():
    for n in range(20):
        write(n)
    seen, cursor = follow(START)
    assert seen == list(range(20))
    write(20)
    assert follow(cursor)[0] == [20]


@pytest.mark.django_db(transaction=True)
def test_the_types_filter_reads_only_those_types():
    write(1)
    with transaction.atomic():
        record_change(type=ChangeType.CONTACT_ERASED, data={"n": 2})
    page, _ = read_changes(after=START, types=[ChangeType.CONTACT_ERASED])
    assert [c.data["n"] for c in page] == [2]


def test_a_cursor_is_opaque_and_checked():
    cursor = Cursor(123456789, 42)
    assert Cursor.decode(cursor.encode()) == cursor
    for forged in ["", "x", "MTox", "Mjo1OjY", "!!!", "MTotMTox"]:
        with pytest.raises(InvalidCursor):
            Cursor.decode(forged)


def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent commits need PostgreSQL (the run with DATABASE_URL does this)")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_late_is_read_after_it_commits_never_skipped():
    postgres_only()
    started, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                record_change(type=ChangeType.CAMPAIGN_FINISHED, data={"n": 1})
                started.set()
                release.wait(30)
        finally:
            connections.close_all()

    slow = threading.Thread(target=slow_writer)
    slow.start()
    started.wait(30)
    write(2)  # began after the slow one, commits before it

    seen, cursor = follow(START)
    assert 2 not in seen  # held back below the horizon until the slow one ends
    release.set()
    slow.join(30)
    more, _ = follow(cursor)
    assert sorted(seen + more) == [1, 2]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_committing_out_of_order_are_read_exactly_once():
    postgres_only()
    writers, each = 4, 25
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        rng = random.Random(w)
        try:
            for i in range(each):
                with transaction.atomic():
                    record_change(type=ChangeType.CAMPAIGN_FINISHED, data={"n": w * 1000 + i})
                    # Hold the transaction open a little: later writers commit first.
                    time.sleep(rng.random() * 0.01)
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    def reader() -> None:
        cursor = START
        try:
            while True:
                finished = done.is_set()
                page, cursor = read_changes(after=cursor, limit=10)
                seen.extend(change.data["n"] for change in page)
                if finished and not page:
                    return
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    follower = threading.Thread(target=reader)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    done.set()
    follower.join(120)

    assert errors == []
    expected = sorted(w * 1000 + i for w in range(writers) for i in range(each))
    assert len(seen) == len(expected)
    assert sorted(seen) == expected
