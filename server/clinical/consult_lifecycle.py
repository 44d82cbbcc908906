"""The consult lifecycle as one table of allowed transitions.

    booked ──guardian_joined──▶ waiting ──admitted──▶ in_call ──ended──▶ ended ──sealed──▶ archived
      │                           │
      └──cancelled / no_show──────┴──cancelled / no_show

`ended` carries an outcome: completed, referred or aborted. Every transition is one audit
event (written by the caller in the same transaction); anything not in the table is refused.
"""

from __future__ import annotations

from enum import StrEnum

from server.kernel.errors import TransitionNotAllowed


class ConsultState(StrEnum):
    BOOKED = "booked"
    WAITING = "waiting"
    IN_CALL = "in_call"
    ENDED = "ended"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    ARCHIVED = "archived"


class ConsultTrigger(StrEnum):
    GUARDIAN_JOINED = "guardian_joined"
    ADMITTED = "admitted"
    ENDED = "ended"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    SEALED = "sealed"


class Outcome(StrEnum):
    COMPLETED = "completed"
    REFERRED = "referred"
    ABORTED = "aborted"


S, T = ConsultState, ConsultTrigger

TRANSITIONS: dict[tuple[ConsultState, ConsultTrigger], ConsultState] = {
    (S.BOOKED, T.GUARDIAN_JOINED): S.WAITING,
    (S.WAITING, T.ADMITTED): S.IN_CALL,
    (S.IN_CALL, T.ENDED): S.ENDED,
    (S.BOOKED, T.CANCELLED): S.CANCELLED,
    (S.WAITING, T.CANCELLED): S.CANCELLED,
    (S.BOOKED, T.NO_SHOW): S.NO_SHOW,
    (S.WAITING, T.NO_SHOW): S.NO_SHOW,
    (S.ENDED, T.SEALED): S.ARCHIVED,
}

# States in which the call may still happen; the consult's artefacts are still growing.
OPEN_STATES = frozenset({S.BOOKED, S.WAITING, S.IN_CALL})
# The guardian may fill in or correct the pre-consultation intake until the physician admits.
INTAKE_EDITABLE_STATES = frozenset({S.BOOKED, S.WAITING})


def next_state(current: ConsultState, trigger: ConsultTrigger) -> ConsultState:
    try:
        return TRANSITIONS[(current, trigger)]
    except KeyError:
        allowed = sorted(t.value for (s, t) in TRANSITIONS if s is current)
        hint = f"; from {current} only: {', '.join(allowed)}" if allowed else ""
        raise TransitionNotAllowed(
            f"a consult that is {current} cannot be {trigger}{hint}",
            state=current.value,
            trigger=trigger.value,
        ) from None
