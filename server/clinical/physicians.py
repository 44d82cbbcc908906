"""The physician registry and the hospital's dynamic whitelist, persisted and audited."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import sqlalchemy as sa
from pydantic import Field, StringConstraints, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.clinical.live_notifier import LiveNotifier, PhysicianChange
from server.clinical.specialties import SPECIALTY_NAMES, Specialty
from server.clinical.whitelist import (
    REASON_TEXT,
    Credentials,
    Title,
    WhitelistStatus,
    check_re_registration,
    check_status_change,
    credential_order_errors,
    eligibility,
    standing_reasons,
)
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    PhysicianNotFound,
    PhysicianNotWhitelisted,
)
from server.kernel.models import PhysicianRow, WhitelistChangeRow
from server.kernel.validation import StrictModel

if TYPE_CHECKING:
    from server.clinical.physician_standing import PhysicianStanding

log = logging.getLogger("shouzhen.whitelist")

Licence = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{6,32}$")]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class PhysicianIn(StrictModel):
    licence_number: Licence = Field(description="医师执业证书编码")
    name: Text100
    department: Annotated[str, StringConstraints(max_length=100)] = ""
    title: Title
    independent_practice_since: date
    internet_consults_since: date | None = None
    training_exam_passed_on: date | None = None
    specialties: list[Specialty] = Field(min_length=1, max_length=3)


class PhysicianPatch(StrictModel):
    name: Text100 | None = None
    department: Annotated[str, StringConstraints(max_length=100)] | None = None
    title: Title | None = None
    independent_practice_since: date | None = None
    internet_consults_since: date | None = None
    training_exam_passed_on: date | None = None
    specialties: list[Specialty] | None = Field(default=None, min_length=1, max_length=3)

    @model_validator(mode="after")
    def _left_out_not_null(self) -> PhysicianPatch:
        # None here means "not sent": every credential column is required, so an explicit
        # null would erase one (it reached the database as a NOT NULL violation, a 500).
        # Checked after validation, on the fields that were sent: any "before" validator
        # hands strict JSON mode a Python value, which refuses "2023-03-01" as a date and
        # "chief" as a Title, so no PATCH of a date or a title could pass.
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: leave the field out to keep it; null is "
                             "not a value")
        return self


class ReRegistrationIn(PhysicianIn):
    """A revoked physician registered anew after the hospital's new review: fresh credentials
    (nothing is carried over), the same licence number, and the review that allows it."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="the new review that allows the physician again")


class WhitelistChangeIn(StrictModel):
    status: Literal["active", "suspended", "revoked"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


def credentials_of(row: PhysicianRow) -> Credentials:
    return Credentials(
        licence_number=row.licence_number,
        title=Title(row.title),
        independent_practice_since=row.independent_practice_since,
        internet_consults_since=row.internet_consults_since,
        training_exam_passed_on=row.training_exam_passed_on,
        specialties=frozenset(Specialty(s) for s in row.specialties),
    )


def new_record(data: PhysicianIn, now: datetime, *,
               supersedes_id: str | None = None) -> PhysicianRow:
    """A physician's record as registered: not yet listed, whatever the credentials say."""
    return PhysicianRow(
        id=str(uuid.uuid4()), licence_number=data.licence_number, name=data.name,
        department=data.department, title=data.title.value,
        independent_practice_since=data.independent_practice_since,
        internet_consults_since=data.internet_consults_since,
        training_exam_passed_on=data.training_exam_passed_on,
        specialties=sorted({s.value for s in data.specialties}),
        whitelist_status=WhitelistStatus.NOT_LISTED.value, created_at=now, updated_at=now,
        supersedes_id=supersedes_id)


def _check_dates(fields: dict[str, date | None], today: date) -> None:
    errors = [FieldError(name, "is in the future") for name, value in fields.items()
              if value is not None and value > today]
    if errors:
        raise InvalidInput(errors)


def physician_view(row: PhysicianRow, today: date,
                   history: list[WhitelistChangeRow] | None = None) -> dict[str, Any]:
    verdict = eligibility(credentials_of(row), today)
    view: dict[str, Any] = {
        "id": row.id,
        "licence_number": row.licence_number,
        "name": row.name,
        "department": row.department,
        "title": row.title,
        "independent_practice_since": row.independent_practice_since.isoformat(),
        "internet_consults_since": _iso(row.internet_consults_since),
        "training_exam_passed_on": _iso(row.training_exam_passed_on),
        "specialties": [{"code": s, "zh": SPECIALTY_NAMES[Specialty(s)][0],
                         "en": SPECIALTY_NAMES[Specialty(s)][1]} for s in row.specialties],
        "whitelist_status": row.whitelist_status,
        "eligibility": {"as_of": today.isoformat(), "eligible": verdict.eligible,
                        "reasons": [{"code": r, "text": REASON_TEXT[r]} for r in verdict.reasons]},
        "bookable": verdict.eligible and row.whitelist_status == WhitelistStatus.ACTIVE,
        "supersedes": row.supersedes_id,
        "superseded_at": row.superseded_at.isoformat() if row.superseded_at else None,
    }
    if history is not None:
        view["whitelist_history"] = [
            {"from": h.from_status, "to": h.to_status, "at": h.changed_at.isoformat(),
             "by": h.changed_by, "reason": h.reason} for h in history]
    return view


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


async def load_physician(session: AsyncSession, physician_id: str, *,
                         for_update: bool = False) -> PhysicianRow:
    query = sa.select(PhysicianRow).where(PhysicianRow.id == physician_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.scalars(query)).one_or_none()
    if row is None:
        raise PhysicianNotFound(f"no physician with id {physician_id!r}")
    return row


async def _history(session: AsyncSession, physician_id: str) -> list[WhitelistChangeRow]:
    return list((await session.scalars(
        sa.select(WhitelistChangeRow).where(WhitelistChangeRow.physician_id == physician_id)
        .order_by(WhitelistChangeRow.id))).all())


class ConsultsOfPhysician(Protocol):
    """The consult service, as the registry needs it when a physician is withdrawn (the
    consult service itself reads physicians, so it is handed in, not imported)."""

    async def withdraw_physician(self, physician_id: str, reasons: list[str]) -> list[Any]:
        """Close every open consult of the physician, telling the people in them."""


class PhysicianRegistry:
    def __init__(self, db: Database, clock: Clock, *, standing: PhysicianStanding | None = None,
                 consults: ConsultsOfPhysician | None = None,
                 live: LiveNotifier | None = None) -> None:
        self.db = db
        self.clock = clock
        self.standing = standing
        self.consults = consults
        self.live = live

    async def _changed(self, row: PhysicianRow, *, withdrawn: bool) -> None:
        """After a committed change: this node forgets the physician's standing at once, the
        other nodes through the live layer. A withdrawn physician (suspended or revoked just
        now) is disconnected everywhere, then leaves every open consult."""
        if self.standing is not None:
            self.standing.forget(row.id)
        reasons = standing_reasons(credentials_of(row), WhitelistStatus(row.whitelist_status),
                                   self.clock.today())
        change = PhysicianChange(row.id, withdrawn, tuple(reasons),
                                 "; ".join(REASON_TEXT[r] for r in reasons))
        # The change is committed and the physician already refused at every action: a
        # failure from here on is logged, never turned into a failed status change, and
        # one step failing does not skip the other.
        try:
            # Sockets first: the physician can do nothing more while the consults close.
            if self.live is not None:
                await self.live.physician_changed(change)
        except Exception:
            log.exception("could not tell the live layer of a whitelist change",
                          extra={"physician_id": row.id})
        try:
            if withdrawn and self.consults is not None:
                await self.consults.withdraw_physician(row.id, reasons)
        except Exception:
            log.exception("could not close the consults of a withdrawn physician",
                          extra={"physician_id": row.id})

    async def create(self, actor: Actor, data: PhysicianIn) -> dict[str, Any]:
        today, now = self.clock.today(), self.clock.now()
        _check_dates({"independent_practice_since": data.independent_practice_since,
                      "internet_consults_since": data.internet_consults_since,
                      "training_exam_passed_on": data.training_exam_passed_on}, today)
        row = new_record(data, now)
        if order_errors := credential_order_errors(credentials_of(row)):
            raise InvalidInput(order_errors)
        try:
            async with self.db.transaction() as session:
                session.add(row)
                await session.flush()
                await audit_log.append(session, actor, "physician.created", details={
                    "physician_id": row.id, **data.model_dump(mode="json")})
        except IntegrityError:
            raise Conflict(f"a physician with licence number {data.licence_number} "
                           "already exists") from None
        return physician_view(row, today, [])

    async def update(self, actor: Actor, physician_id: str,
                     patch: PhysicianPatch) -> dict[str, Any]:
        changes = patch.model_dump(exclude_unset=True)
        if not changes:
            raise InvalidInput([FieldError("body", "no field to change")])
        _check_dates({k: v for k, v in changes.items() if isinstance(v, date)},
                     self.clock.today())
        async with self.db.transaction() as session:
            row = await load_physician(session, physician_id, for_update=True)
            before = {k: _jsonable(getattr(row, k)) for k in changes}
            for key, value in changes.items():
                if key == "specialties":
                    value = sorted({Specialty(s).value for s in value})
                elif key == "title":
                    value = Title(value).value
                setattr(row, key, value)
            # Checked on the record as it would be: a patch may move either date.
            if order_errors := credential_order_errors(credentials_of(row)):
                raise InvalidInput(order_errors)
            row.updated_at = self.clock.now()
            await audit_log.append(session, actor, "physician.updated", details={
                "physician_id": row.id, "before": before,
                "after": {k: _jsonable(getattr(row, k)) for k in changes}})
            history = await _history(session, physician_id)
        await self._changed(row, withdrawn=False)
        return physician_view(row, self.clock.today(), history)

    async def change_status(self, actor: Actor, physician_id: str,
                            change: WhitelistChangeIn) -> dict[str, Any]:
        today, now = self.clock.today(), self.clock.now()
        async with self.db.transaction() as session:
            row = await load_physician(session, physician_id, for_update=True)
            current, new = WhitelistStatus(row.whitelist_status), WhitelistStatus(change.status)
            check_status_change(current, new)
            if new is WhitelistStatus.ACTIVE:
                verdict = eligibility(credentials_of(row), today)
                if not verdict.eligible:
                    raise PhysicianNotWhitelisted(
                        "not eligible for first-visit consults: "
                        + "; ".join(REASON_TEXT[r] for r in verdict.reasons),
                        list(verdict.reasons))
            row.whitelist_status = new.value
            row.updated_at = now
            session.add(WhitelistChangeRow(physician_id=row.id, from_status=current.value,
                                           to_status=new.value, changed_at=now,
                                           changed_by=f"{actor.role}:{actor.subject}",
                                           reason=change.reason))
            await audit_log.append(session, actor, "whitelist.status_changed", details={
                "physician_id": row.id, "from": current.value, "to": new.value,
                "reason": change.reason})
            await session.flush()
            history = await _history(session, physician_id)
        await self._changed(row, withdrawn=new in (WhitelistStatus.SUSPENDED,
                                                   WhitelistStatus.REVOKED))
        return physician_view(row, today, history)

    async def re_register(self, actor: Actor, physician_id: str,
                          data: ReRegistrationIn) -> dict[str, Any]:
        """A new record superseding a revoked one; it starts not listed, and listing it goes
        through the eligibility check like any other."""
        today, now = self.clock.today(), self.clock.now()
        _check_dates({"independent_practice_since": data.independent_practice_since,
                      "internet_consults_since": data.internet_consults_since,
                      "training_exam_passed_on": data.training_exam_passed_on}, today)
        credentials = data.model_dump(mode="json", exclude={"reason"})
        try:
            async with self.db.transaction() as session:
                old = await load_physician(session, physician_id, for_update=True)
                check_re_registration(WhitelistStatus(old.whitelist_status),
                                      old.superseded_at is not None)
                if data.licence_number != old.licence_number:
                    raise InvalidInput([FieldError(
                        "licence_number", "a re-registration keeps the licence number of the "
                        f"record it supersedes ({old.licence_number})")])
                row = new_record(data, now, supersedes_id=old.id)
                if order_errors := credential_order_errors(credentials_of(row)):
                    raise InvalidInput(order_errors)
                # The old record leaves force first: the licence is unique among those in force.
                old.superseded_at, old.updated_at = now, now
                await session.flush()
                session.add(row)
                await session.flush()
                await audit_log.append(session, actor, "physician.re_registered", details={
                    "physician_id": row.id, "supersedes": old.id, "reason": data.reason,
                    **credentials})
        except IntegrityError:
            raise Conflict(f"a physician with licence number {data.licence_number} "
                           "is already in force") from None
        return physician_view(row, today, [])

    async def get(self, physician_id: str) -> dict[str, Any]:
        async with self.db.reading() as session:
            row = await load_physician(session, physician_id)
            return physician_view(row, self.clock.today(), await _history(session, physician_id))

    async def list(self, *, status: WhitelistStatus | None = None,
                   bookable_only: bool = False) -> list[dict[str, Any]]:
        async with self.db.reading() as session:
            query = sa.select(PhysicianRow).order_by(PhysicianRow.name, PhysicianRow.id)
            if status is not None:
                query = query.where(PhysicianRow.whitelist_status == status.value)
            rows = (await session.scalars(query)).all()
        views = [physician_view(row, self.clock.today()) for row in rows]
        return [v for v in views if v["bookable"]] if bookable_only else views


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
