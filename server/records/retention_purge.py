"""The server's side of the retention purge (recorder.retention_purge): the sealed consults
and the facts the rule needs, read from the database, and the purge's evidence written into
the audit chain.

* process records count from the end of their consult (its sealing, if it never took place);
* medical records count from the child's LAST visit: the latest end of any consult of the
  same child (`child_id`), so a later visit extends the whole record;
* the `retention.purged` entries of a consult are committed under the consult's row lock,
  after re-checking its legal holds, before any of its files is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from recorder.retention import RetentionPolicy
from recorder.retention_purge import (
    PURGE_FAILED,
    PURGE_RUN,
    PURGED,
    ConsultFacts,
    PurgeReport,
    SealedConsult,
    purge_expired,
)
from recorder.storage import LocalDirectoryStorage
from server.clinical.consults import load_consult
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.config import Settings
from server.kernel.db import Database
from server.kernel.models import ArchiveRow, ConsultRow
from server.records.legal_holds import held_consults


def policy_from_settings(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(process_record_years=settings.process_record_years,
                           medical_record_years=settings.medical_record_years,
                           time_zone=ZoneInfo(settings.timezone))


async def last_visits(session: AsyncSession, child_ids: Iterable[str],
                      until: datetime | None = None) -> dict[str, datetime]:
    """Each child's latest visit: the latest end of a consult that took place (an ended
    consult has `ended_at`; a cancelled or no-show one has none and is no visit)."""
    query = (sa.select(ConsultRow.child_id, sa.func.max(ConsultRow.ended_at))
             .where(ConsultRow.child_id.in_(list(child_ids)), ConsultRow.ended_at.is_not(None))
             .group_by(ConsultRow.child_id))
    if until is not None:
        query = query.where(ConsultRow.ended_at <= until)
    rows = (await session.execute(query)).all()
    return {str(child): _aware(moment) for child, moment in rows if moment is not None}


def _aware(moment: datetime | str) -> datetime:
    # Should max() over the UTC column ever come back undecorated (SQLite text, naive).
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def sealed_consults(db: Database) -> list[SealedConsult]:
    """Every sealed consult with the facts the rule needs."""
    async with db.reading() as session:
        query = sa.select(ArchiveRow, ConsultRow).join(
            ConsultRow, ConsultRow.id == ArchiveRow.consult_id).order_by(ArchiveRow.sealed_at)
        sealed = (await session.execute(query)).all()
        visits = await last_visits(session, {consult.child_id for _, consult in sealed})
        held = await held_consults(session, [archive.consult_id for archive, _ in sealed])
    return [SealedConsult(ConsultFacts(consult.id, consult.child_id,
                                       consult.ended_at or archive.sealed_at,
                                       visits.get(consult.child_id), consult.id in held),
                          archive)
            for archive, consult in sealed]


class AuditedPurgeLedger:
    """`recorder.retention_purge.PurgeLedger` over the audit chain."""

    def __init__(self, db: Database, actor: Actor) -> None:
        self.db = db
        self.actor = actor

    async def record_purges(self, consult_id: str, purges: list[dict[str, Any]],
                            at: datetime | None) -> bool:
        async with self.db.transaction() as session:
            await load_consult(session, consult_id, for_update=True)
            if await held_consults(session, [consult_id]):
                return False
            for details in purges:
                await audit_log.append(session, self.actor, PURGED, consult_id=consult_id,
                                       at=at, details=details)
        return True

    async def record_failure(self, consult_id: str, details: dict[str, Any]) -> None:
        async with self.db.transaction() as session:
            await audit_log.append(session, self.actor, PURGE_FAILED, consult_id=consult_id,
                                   details=details)

    async def record_run(self, details: dict[str, Any], at: datetime | None) -> None:
        async with self.db.transaction() as session:
            await audit_log.append(session, self.actor, PURGE_RUN, at=at, details=details)


async def run_purge(db: Database, storage: LocalDirectoryStorage, *, actor: Actor,
                    now: datetime, policy: RetentionPolicy, dry_run: bool,
                    clock_override: bool = False) -> PurgeReport:
    """Plan, and unless `dry_run`, purge every sealed consult. A dry run writes nothing."""
    return await purge_expired(await sealed_consults(db), storage, AuditedPurgeLedger(db, actor),
                               now=now, policy=policy, dry_run=dry_run,
                               clock_override=clock_override)
