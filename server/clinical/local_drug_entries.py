"""The hospital's local additions to the drug catalogue (a formulary extension): added and
retired by an admin without a release, each change audited, merged with the shipped
catalogue for every prescription check. A local entry can add a refusal or an offline-only
rule; it can never lift one of the national lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from server.clinical.drug_catalogue import (
    LOCAL_SOURCE,
    CatalogueEntry,
    DrugCatalogue,
    compact,
    national_catalogue,
)
from server.clinical.drug_catalogue.catalogue import CatalogueClass, Rule
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.errors import Conflict, FieldError, InvalidInput, NotFound
from server.kernel.models import LocalDrugEntryRow
from server.kernel.validation import StrictModel

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class LocalDrugEntryIn(StrictModel):
    generic_name_zh: Name
    inn: Name
    aliases: list[Name] = Field(default_factory=list, max_length=30)
    drug_class: CatalogueClass
    rule: Rule = "refuse"
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = Field(
        description="why the hospital restricts it (the formulary decision it follows)")


class RetireIn(StrictModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


def entry_of(row: LocalDrugEntryRow) -> CatalogueEntry:
    return CatalogueEntry(generic_name_zh=row.generic_name_zh, inn=row.inn,
                          drug_class=row.drug_class, rule=row.rule,  # type: ignore[arg-type]
                          source=LOCAL_SOURCE, aliases=tuple(row.aliases), note=row.reason,
                          local_id=row.id)


def local_entry_view(row: LocalDrugEntryRow) -> dict[str, Any]:
    return {"id": row.id, "generic_name_zh": row.generic_name_zh, "inn": row.inn,
            "aliases": list(row.aliases), "drug_class": row.drug_class, "rule": row.rule,
            "reason": row.reason, "added_by": row.added_by,
            "added_at": row.added_at.isoformat(), "retired_by": row.retired_by,
            "retired_at": row.retired_at.isoformat() if row.retired_at else None,
            "retire_reason": row.retire_reason}


async def current_catalogue(session: AsyncSession) -> DrugCatalogue:
    """The shipped catalogue with the hospital's entries that are in force."""
    rows = (await session.scalars(sa.select(LocalDrugEntryRow)
                                  .where(LocalDrugEntryRow.retired_at.is_(None))
                                  .order_by(LocalDrugEntryRow.id))).all()
    return national_catalogue().with_local(entry_of(row) for row in rows)


class LocalDrugEntries:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def catalogue(self) -> DrugCatalogue:
        async with self.db.reading() as session:
            return await current_catalogue(session)

    async def listed(self) -> list[dict[str, Any]]:
        async with self.db.reading() as session:
            rows = (await session.scalars(sa.select(LocalDrugEntryRow)
                                          .order_by(LocalDrugEntryRow.id))).all()
        return [local_entry_view(row) for row in rows]

    async def add(self, actor: Actor, body: LocalDrugEntryIn) -> dict[str, Any]:
        names = [body.generic_name_zh, body.inn, *body.aliases]
        empty = [i for i, name in enumerate(names) if not compact(name)]
        if empty:
            raise InvalidInput([FieldError("aliases" if i > 1 else
                                           ("generic_name_zh", "inn")[i],
                                           "holds no letter or digit") for i in empty])
        now: datetime = self.clock.now()
        async with self.db.transaction() as session:
            row = LocalDrugEntryRow(
                generic_name_zh=body.generic_name_zh, inn=body.inn, aliases=body.aliases,
                drug_class=body.drug_class, rule=body.rule, reason=body.reason,
                added_by=f"{actor.role}:{actor.subject}", added_at=now)
            session.add(row)
            await session.flush()
            view = local_entry_view(row)
            await audit_log.append(session, actor, "drug_catalogue.local_entry_added", at=now,
                                   details={"entry": view,
                                            "national_version": national_catalogue().version})
        return view

    async def retire(self, actor: Actor, entry_id: int, body: RetireIn) -> dict[str, Any]:
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await session.get(LocalDrugEntryRow, entry_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no local drug-catalogue entry {entry_id}")
            if row.retired_at is not None:
                raise Conflict(f"local entry {entry_id} was retired on "
                               f"{row.retired_at.isoformat()}")
            row.retired_at, row.retired_by = now, f"{actor.role}:{actor.subject}"
            row.retire_reason = body.reason
            view = local_entry_view(row)
            await audit_log.append(session, actor, "drug_catalogue.local_entry_retired",
                                   at=now, details={"entry": view})
        return view
