"""Legal holds (法律保全): while a hold on a consult is open, nothing of it may be purged,
whatever its retention says.

Holds are set and cleared by an admin with a reason, each change one audit entry in the same
transaction. A hold is never deleted: clearing stamps it, so the history of who held a record
and why stays readable next to the audit chain (the clearing reason lives in the
`legal_hold.cleared` entry, which the listing joins back in).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from recorder.retention import HoldPeriod
from server.clinical.consults import load_consult
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.errors import Conflict, NotFound
from server.kernel.models import LegalHoldRow
from server.kernel.validation import StrictModel

Reason = Annotated[str, StringConstraints(min_length=3, max_length=1000)]


class LegalHoldIn(StrictModel):
    """Why the record must be kept (a court order, a complaint, a regulator's inquiry…)."""

    reason: Reason


class LegalHoldNotFound(NotFound):
    code = "legal_hold_not_found"
    title = "Legal hold not found"


class LegalHoldAlreadyCleared(Conflict):
    code = "legal_hold_already_cleared"
    title = "The legal hold is already cleared"


def hold_view(row: LegalHoldRow, cleared_reason: str | None = None) -> dict[str, Any]:
    return {"id": row.id, "consult_id": row.consult_id, "reason": row.reason,
            "set_by": row.set_by, "set_at": row.set_at.isoformat(),
            "active": row.cleared_at is None, "cleared_by": row.cleared_by,
            "cleared_at": row.cleared_at.isoformat() if row.cleared_at else None,
            "cleared_reason": cleared_reason}


async def held_consults(session: AsyncSession, consult_ids: Iterable[str] | None = None
                        ) -> set[str]:
    """The consults (of `consult_ids`, or all) with at least one open hold."""
    query = sa.select(LegalHoldRow.consult_id).where(LegalHoldRow.cleared_at.is_(None))
    if consult_ids is not None:
        query = query.where(LegalHoldRow.consult_id.in_(list(consult_ids)))
    return set((await session.scalars(query.distinct())).all())


async def hold_periods(session: AsyncSession, consult_id: str) -> list[HoldPeriod]:
    rows = (await session.scalars(sa.select(LegalHoldRow).where(
        LegalHoldRow.consult_id == consult_id))).all()
    return [HoldPeriod(row.set_at, row.cleared_at) for row in rows]


class LegalHolds:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def place(self, actor: Actor, consult_id: str, reason: str) -> dict[str, Any]:
        now = self.clock.now()
        async with self.db.transaction() as session:
            # The consult row lock orders this against a purge of the same consult, which
            # takes the same lock before it re-checks the holds.
            await load_consult(session, consult_id, for_update=True)
            row = LegalHoldRow(consult_id=consult_id, reason=reason,
                               set_by=f"{actor.role}:{actor.subject}", set_at=now)
            session.add(row)
            await session.flush()
            await audit_log.append(session, actor, "legal_hold.set", consult_id=consult_id,
                                   at=now, details={"hold_id": row.id, "reason": reason})
            return hold_view(row)

    async def clear(self, actor: Actor, consult_id: str, hold_id: int,
                    reason: str) -> dict[str, Any]:
        now = self.clock.now()
        async with self.db.transaction() as session:
            await load_consult(session, consult_id, for_update=True)
            row = (await session.scalars(sa.select(LegalHoldRow).where(
                LegalHoldRow.id == hold_id, LegalHoldRow.consult_id == consult_id))
            ).one_or_none()
            if row is None:
                raise LegalHoldNotFound(f"consult {consult_id} has no legal hold {hold_id}")
            if row.cleared_at is not None:
                raise LegalHoldAlreadyCleared(
                    f"legal hold {hold_id} was cleared at {row.cleared_at.isoformat()} by "
                    f"{row.cleared_by}")
            row.cleared_at, row.cleared_by = now, f"{actor.role}:{actor.subject}"
            await audit_log.append(session, actor, "legal_hold.cleared", consult_id=consult_id,
                                   at=now, details={"hold_id": row.id, "reason": reason,
                                                    "held_since": row.set_at})
            return hold_view(row, reason)

    async def list(self, consult_id: str) -> list[dict[str, Any]]:
        async with self.db.reading() as session:
            await load_consult(session, consult_id)
            return await list_holds(session, consult_id)


async def list_holds(session: AsyncSession, consult_id: str) -> list[dict[str, Any]]:
    rows = (await session.scalars(sa.select(LegalHoldRow).where(
        LegalHoldRow.consult_id == consult_id).order_by(LegalHoldRow.id))).all()
    reasons: dict[int, str] = {}
    if any(row.cleared_at is not None for row in rows):
        async for entry in audit_log.iter_entries(session, consult_id=consult_id):
            if entry.action == "legal_hold.cleared":
                details = entry.details_dict()
                reasons[int(details["hold_id"])] = str(details.get("reason", ""))
    return [hold_view(row, reasons.get(row.id)) for row in rows]
