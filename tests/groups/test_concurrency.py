"""Races closed by the database: two accepts of one invitation, two invitations at once."""

import threading

import pytest
from django.db import connection, connections

from groups.exceptions import DuplicateInvitation
from groups.models import GroupInvitation, GroupMembership
from groups.services import invite_contact, respond_to_invitation

ROUNDS = 10


def _race(*targets) -> list[BaseException]:
    start = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target) -> None:
        try:
            start.wait()
            target()
        except BaseException as exc:  # surfaced to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _skip_unless_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency need PostgreSQL (CI runs this)")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_accepts_make_one_membership(group, make_opted_in):
    _skip_unless_postgres()
    for _ in range(ROUNDS):
        # given
        invitation = invite_contact(group=group, contact=make_opted_in())

        def accept(source: str, pk=invitation.pk) -> None:
            respond_to_invitation(
                invitation=GroupInvitation.objects.get(pk=pk), answer="accept", source=source
            )

        # when
        errors = _race(lambda: accept("whatsapp_button"), lambda: accept("answer_page"))

        # then
        assert errors == []
        assert GroupMembership.objects.filter(invitation=invitation).count() == 1
    assert GroupMembership.objects.count() == ROUNDS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_never_overfill_a_group(group, make_opted_in):
    _skip_unless_postgres()
    group.capacity = 2
    group.save()
    invitations = [invite_contact(group=group, contact=make_opted_in()) for _ in range(4)]

    def accept(pk) -> None:
        respond_to_invitation(
            invitation=GroupInvitation.objects.get(pk=pk), answer="accept", source="api"
        )

    errors = _race(*[lambda pk=i.pk: accept(pk) for i in invitations])

    assert GroupMembership.objects.count() == 2
    assert sorted(type(e).__name__ for e in errors) == ["GroupFull", "GroupFull"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_invitations_make_one_pending(group, make_opted_in):
    _skip_unless_postgres()
    contact = make_opted_in()

    errors = _race(*[lambda: invite_contact(group=group, contact=contact)] * 2)

    assert GroupInvitation.objects.filter(contact=contact, status="pending").count() == 1
    assert [type(e) for e in errors] == [DuplicateInvitation]
