"""Reconnect deadlines: when a participant who dropped out of a call must be back by, or the
consult ends as aborted. Kept in the database (not only in a node's memory) so that the node
owning the consult after a restart or a failover resumes them; the timers in signaling/ are
only the fast path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from server.clinical.consult_lifecycle import ConsultState
from server.kernel.db import Database
from server.kernel.models import ConsultRow, ReconnectDeadlineRow

ROLES = ("physician", "guardian")


@dataclass(frozen=True)
class ReconnectDeadline:
    consult_id: str
    role: str
    subject: str  # who the participant is (the join token's subject), for the audit entries
    deadline_at: datetime


@dataclass(frozen=True)
class OpenCall:
    """A consult in call and the deadlines already set for it, by role."""

    consult_id: str
    physician_id: str
    deadlines: dict[str, datetime]


def subject_of(role: str, consult_id: str, physician_id: str) -> str:
    """The join token's subject for a role (ConsultService.join_links issues them)."""
    return physician_id if role == "physician" else consult_id


def resumed_deadlines(call: OpenCall, now: datetime, grace: timedelta) -> list[ReconnectDeadline]:
    """What a node taking over a call after a restart waits for: a deadline already set stays
    as it was (a past one fires at once); a participant who was connected when the previous
    node died is gone too, so gets a full grace period from now."""
    return [ReconnectDeadline(call.consult_id, role,
                              subject_of(role, call.consult_id, call.physician_id),
                              call.deadlines.get(role, now + grace))
            for role in ROLES]


class ReconnectDeadlines:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, consult_id: str, role: str, deadline_at: datetime) -> None:
        async with self.db.transaction() as session:
            row = await session.get(ReconnectDeadlineRow, (consult_id, role))
            if row is None:
                session.add(ReconnectDeadlineRow(consult_id=consult_id, role=role,
                                                 deadline_at=deadline_at))
            else:
                row.deadline_at = deadline_at

    async def clear(self, consult_id: str, role: str | None = None) -> None:
        condition = ReconnectDeadlineRow.consult_id == consult_id
        if role is not None:
            condition = sa.and_(condition, ReconnectDeadlineRow.role == role)
        async with self.db.transaction() as session:
            await session.execute(sa.delete(ReconnectDeadlineRow).where(condition))

    async def open_calls(self) -> list[OpenCall]:
        """Every consult in call with its deadlines; deadlines left behind by consults no
        longer in call are dropped on the way."""
        async with self.db.transaction() as session:
            consults = (await session.execute(
                sa.select(ConsultRow.id, ConsultRow.physician_id)
                .where(ConsultRow.state == ConsultState.IN_CALL.value))).all()
            rows = (await session.execute(sa.select(ReconnectDeadlineRow))).scalars().all()
            in_call = {consult_id for consult_id, _ in consults}
            stale = [row.consult_id for row in rows if row.consult_id not in in_call]
            if stale:
                await session.execute(sa.delete(ReconnectDeadlineRow)
                                      .where(ReconnectDeadlineRow.consult_id.in_(stale)))
        deadlines: dict[str, dict[str, datetime]] = {}
        for row in rows:
            deadlines.setdefault(row.consult_id, {})[row.role] = row.deadline_at
        return [OpenCall(consult_id, physician_id, deadlines.get(consult_id, {}))
                for consult_id, physician_id in consults]
