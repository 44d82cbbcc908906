import itertools

import pytest

from server.clinical.consult_lifecycle import (
    TRANSITIONS,
    ConsultState,
    ConsultTrigger,
    next_state,
)
from server.kernel.errors import TransitionNotAllowed

EXPECTED = {
    ("booked", "guardian_joined"): "waiting",
    ("waiting", "admitted"): "in_call",
    ("in_call", "ended"): "ended",
    ("booked", "cancelled"): "cancelled",
    ("waiting", "cancelled"): "cancelled",
    ("booked", "no_show"): "no_show",
    ("waiting", "no_show"): "no_show",
    ("ended", "sealed"): "archived",
}


@pytest.mark.parametrize(("state", "trigger"),
                         list(itertools.product(ConsultState, ConsultTrigger)))
def test_every_state_and_trigger_pair_follows_the_table(state, trigger):
    expected = EXPECTED.get((state.value, trigger.value))
    if expected is None:
        with pytest.raises(TransitionNotAllowed) as refused:
            next_state(state, trigger)
        assert state.value in refused.value.detail and trigger.value in refused.value.detail
    else:
        assert next_state(state, trigger) == ConsultState(expected)


def test_the_table_holds_exactly_the_documented_transitions():
    assert {(s.value, t.value): n.value for (s, t), n in TRANSITIONS.items()} == EXPECTED


def test_terminal_states_allow_nothing_but_archiving_an_ended_consult():
    for state in (ConsultState.CANCELLED, ConsultState.NO_SHOW, ConsultState.ARCHIVED):
        assert not [t for (s, t) in TRANSITIONS if s is state]


def test_refusal_names_what_is_allowed_instead():
    with pytest.raises(TransitionNotAllowed, match="only: admitted, cancelled, no_show"):
        next_state(ConsultState.WAITING, ConsultTrigger.ENDED)


def test_a_refusal_from_a_terminal_state_names_no_alternative():
    with pytest.raises(TransitionNotAllowed) as refused:
        next_state(ConsultState.CANCELLED, ConsultTrigger.ADMITTED)
    assert refused.value.detail == "a consult that is cancelled cannot be admitted"


@pytest.mark.parametrize(("state", "trigger"),
                         [(s, t) for s, t in itertools.product(ConsultState, ConsultTrigger)
                          if (s, t) not in TRANSITIONS])
def test_a_refusal_carries_the_state_and_trigger_as_codes(state, trigger):
    with pytest.raises(TransitionNotAllowed) as refused:
        next_state(state, trigger)
    assert refused.value.extra == {"state": state.value, "trigger": trigger.value}
    allowed = sorted(t.value for (s, t) in TRANSITIONS if s is state)
    expected = f"a consult that is {state.value} cannot be {trigger.value}"
    if allowed:
        expected += f"; from {state.value} only: {', '.join(allowed)}"
    assert refused.value.detail == expected
