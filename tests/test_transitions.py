"""The transition table, exhaustively: every (status, action) pair."""

import pytest

from consent.rules import TRANSITIONS, Action, IllegalTransition, Status, next_status

S, A = Status, Action

EXPECTED = {
    S.NONE: {
        A.REQUEST: S.PENDING,
        A.GRANT: S.OPTED_IN,
        A.WITHDRAW: S.OPTED_OUT,
        A.LEGACY: S.LEGACY,
    },
    S.PENDING: {
        A.REQUEST: S.PENDING,
        A.GRANT: S.OPTED_IN,
        A.WITHDRAW: S.OPTED_OUT,
        A.EXPIRE: S.NONE,
    },
    # expire: a call permission granted for a time lapses (the system's sweep).
    S.OPTED_IN: {
        A.GRANT: S.OPTED_IN,
        A.WITHDRAW: S.OPTED_OUT,
        A.PAUSE: S.PAUSED,
        A.EXPIRE: S.EXPIRED,
    },
    S.OPTED_OUT: {A.REQUEST: S.PENDING, A.GRANT: S.OPTED_IN, A.WITHDRAW: S.OPTED_OUT},
    S.LEGACY: {
        A.REQUEST: S.PENDING,
        A.GRANT: S.OPTED_IN,
        A.WITHDRAW: S.OPTED_OUT,
        A.LEGACY: S.LEGACY,
        A.EXPIRE: S.EXPIRED,
    },
    S.EXPIRED: {A.REQUEST: S.PENDING, A.GRANT: S.OPTED_IN, A.WITHDRAW: S.OPTED_OUT},
    S.PAUSED: {A.GRANT: S.OPTED_IN, A.WITHDRAW: S.OPTED_OUT, A.PAUSE: S.PAUSED},
}

ALL_PAIRS = [(s, a) for s in S for a in A]


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS)
def test_every_pair_is_legal_exactly_as_specified(status, action):
    expected = EXPECTED[status].get(action)
    if expected is None:
        with pytest.raises(IllegalTransition) as err:
            next_status(status, action, "marketing")
        assert err.value.current == status
        assert status.value in str(err.value)
    else:
        assert next_status(status, action) == expected


def test_table_has_no_transition_beyond_the_specification():
    specified = {(s, a) for s, actions in EXPECTED.items() for a in actions}
    assert set(TRANSITIONS) == specified


def test_an_opt_out_is_legal_from_every_status():
    assert all(next_status(s, A.WITHDRAW) == S.OPTED_OUT for s in S)


def test_an_import_never_overrides_an_answer():
    for answered in (S.OPTED_OUT, S.OPTED_IN, S.EXPIRED, S.PAUSED, S.PENDING):
        with pytest.raises(IllegalTransition):
            next_status(answered, A.LEGACY)
