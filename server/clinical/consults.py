"""Consults: booking, lifecycle transitions, the recording notice and the intake.

Every change here happens in one transaction together with its audit entry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.clinical.booking import BookingIn, PilotPeriod, check_booking
from server.clinical.consult_lifecycle import (
    INTAKE_EDITABLE_STATES,
    OPEN_STATES,
    ConsultState,
    ConsultTrigger,
    Outcome,
    next_state,
)
from server.clinical.growth_intake import growth_input_errors
from server.clinical.intake import GrowthIntake, NutritionIntake, intake_to_json, validate_intake
from server.clinical.live_notifier import ConsultSnapshot, LiveNotifier
from server.clinical.outcome import (
    PHYSICIAN_UNAVAILABLE,
    Aborted,
    Completed,
    Referred,
    automatic_abort,
    outcome_data,
    referral_of,
)
from server.clinical.physicians import credentials_of, load_physician
from server.clinical.prescribing import prescribing_refusal
from server.clinical.reconnect_deadlines import ReconnectDeadlines
from server.clinical.referral import new_reference_number, referral_view
from server.clinical.specialties import SPECIALTY_NAMES, Specialty, parse_specialty
from server.clinical.whitelist import REASON_TEXT, WhitelistStatus, bookable_reasons
from server.clinical.young_child_prescribing import AccompanyingPhysicianIn
from server.events.outbox import enqueue
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.errors import (
    Conflict,
    ConsultClosed,
    ConsultNotFound,
    FieldError,
    Forbidden,
    GuardianPresenceRequired,
    InvalidInput,
    PhysicianNotWhitelisted,
    RecordingNoticeRequired,
    ShouzhenError,
    TransitionNotAllowed,
    Unauthenticated,
)
from server.kernel.models import (
    AccompanyingPhysicianRow,
    ChildRow,
    ConsultRow,
    IntakeRow,
    OutcomeRow,
    PhysicianRow,
)
from server.kernel.tokens import JoinClaims, Role, issue_join_token


@dataclass(frozen=True)
class JoinLinks:
    physician: str
    guardian: str
    expires_at: datetime


@dataclass(frozen=True)
class ConsultRecord:
    consult: ConsultRow
    child: ChildRow
    physician: PhysicianRow
    intake: IntakeRow | None
    outcome: OutcomeRow | None = None


async def load_consult(session: AsyncSession, consult_id: str, *,
                       for_update: bool = False) -> ConsultRow:
    query = sa.select(ConsultRow).where(ConsultRow.id == consult_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.scalars(query)).one_or_none()
    if row is None:
        raise ConsultNotFound(f"no consult with id {consult_id!r}")
    return row


async def load_record(session: AsyncSession, consult_id: str) -> ConsultRecord:
    consult = await load_consult(session, consult_id)
    child = await session.get_one(ChildRow, consult.child_id)
    physician = await session.get_one(PhysicianRow, consult.physician_id)
    intake = await session.get(IntakeRow, consult_id)
    outcome = await session.get(OutcomeRow, consult_id)
    return ConsultRecord(consult, child, physician, intake, outcome)


def physician_bookable_reasons(physician: PhysicianRow, specialty: Specialty,
                               clock: Clock) -> list[str]:
    return bookable_reasons(credentials_of(physician),
                            WhitelistStatus(physician.whitelist_status), specialty,
                            clock.today())


async def apply_transition(
    session: AsyncSession, consult: ConsultRow, trigger: ConsultTrigger, actor: Actor,
    now: datetime, *, outcome: Outcome | None = None, details: dict[str, Any] | None = None,
) -> ConsultState:
    """Move `consult` (locked by the caller) along the lifecycle table and audit it."""
    current = ConsultState(consult.state)
    new = next_state(current, trigger)
    if trigger is ConsultTrigger.ENDED and outcome is None:
        raise TransitionNotAllowed("ending a consult needs an outcome")
    consult.state = new.value
    consult.updated_at = now
    if trigger is ConsultTrigger.ADMITTED:
        consult.admitted_at = now
    if trigger is ConsultTrigger.ENDED:
        consult.ended_at = now
        consult.outcome = outcome.value if outcome else None
    await audit_log.append(session, actor, f"consult.{trigger.value}", consult_id=consult.id,
                           at=now, details={"from": current.value, "to": new.value,
                                            **({"outcome": outcome.value} if outcome else {}),
                                            **(details or {})})
    return new


class ConsultService:
    def __init__(self, db: Database, clock: Clock, *, secret: str, base_url: str,
                 default_window_minutes: int, live: LiveNotifier,
                 pilot: PilotPeriod | None = None) -> None:
        self.db = db
        # Grace periods of participants who dropped out of a call, kept across restarts.
        self.reconnect_deadlines = ReconnectDeadlines(db)
        self.pilot = pilot or PilotPeriod()
        self.clock = clock
        self.secret = secret
        self.base_url = base_url
        self.default_window_minutes = default_window_minutes
        self.live = live

    def join_links(self, consult: ConsultRow) -> JoinLinks:
        def link(role: Role, subject: str) -> str:
            token = issue_join_token(self.secret, consult_id=consult.id, role=role,
                                     subject=subject, expires_at=consult.window_end,
                                     version=consult.join_link_version or 0)
            # In the fragment, the token never reaches server logs or Referer headers.
            return f"{self.base_url}/join#{token}"

        return JoinLinks(physician=link(Role.PHYSICIAN, consult.physician_id),
                         guardian=link(Role.GUARDIAN, consult.id),
                         expires_at=consult.window_end)

    async def book(self, actor: Actor, booking: BookingIn) -> tuple[ConsultRecord, JoinLinks]:
        now = self.clock.now()
        specialty = parse_specialty(booking.specialty)
        try:
            window_end = check_booking(booking, now, self.default_window_minutes,
                                       zone=self.clock.timezone, pilot=self.pilot)
        except InvalidInput as refused:
            # A refusal of the pilot's rules (the child's age, the pilot's dates) is kept.
            async with self.db.transaction() as session:
                await audit_log.append(session, actor, "consult.booking_refused", at=now,
                                       details={"physician_id": booking.physician_id,
                                                "specialty": specialty.value,
                                                "scheduled_start": booking.scheduled_start,
                                                "errors": _error_list(refused.errors)})
            raise
        async with self.db.transaction() as session:
            physician = await load_physician(session, booking.physician_id)
            reasons = physician_bookable_reasons(physician, specialty, self.clock)
            if reasons:
                raise PhysicianNotWhitelisted(
                    "this physician cannot take first-visit consults in "
                    f"{specialty.value}: " + "; ".join(REASON_TEXT[r] for r in reasons), reasons)
            child = await self._child(session, booking, now)
            consult = ConsultRow(
                id=str(uuid.uuid4()), specialty=specialty.value, physician_id=physician.id,
                child_id=child.id, guardian_name=booking.guardian.name,
                guardian_relationship=booking.guardian.relationship,
                guardian_phone=booking.guardian.phone, state=ConsultState.BOOKED.value,
                outcome=None, scheduled_start=booking.scheduled_start, window_end=window_end,
                created_at=now, updated_at=now,
            )
            session.add(consult)
            await session.flush()
            await audit_log.append(session, actor, "consult.booked", consult_id=consult.id, at=now,
                                   details={"specialty": specialty.value,
                                            "physician_id": physician.id, "child_id": child.id,
                                            "guardian_relationship": consult.guardian_relationship,
                                            "scheduled_start": consult.scheduled_start,
                                            "window_end": window_end})
        record = ConsultRecord(consult, child, physician, None)
        return record, self.join_links(consult)

    async def _child(self, session: AsyncSession, booking: BookingIn, now: datetime) -> ChildRow:
        given = booking.child
        if given.patient_id is not None:
            existing = (await session.scalars(sa.select(ChildRow).where(
                ChildRow.hospital_patient_id == given.patient_id))).one_or_none()
            if existing is not None:
                if (existing.sex, existing.birth_date) != (given.sex, given.birth_date):
                    raise Conflict(f"patient {given.patient_id} is on record with a different "
                                   "sex or birth date; correct the booking or the record")
                return existing
        child = ChildRow(id=str(uuid.uuid4()), hospital_patient_id=given.patient_id,
                         name=given.name, sex=given.sex, birth_date=given.birth_date,
                         created_at=now)
        session.add(child)
        await session.flush()
        return child

    async def reissue_links(self, actor: Actor, consult_id: str) -> JoinLinks:
        """New links for both roles; the previous ones stop working at once, on every node
        (a link sent to the wrong number, or leaked, is re-issued to revoke it)."""
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            if consult.state not in (ConsultState.BOOKED, ConsultState.WAITING,
                                     ConsultState.IN_CALL):
                raise TransitionNotAllowed(f"the consult is {consult.state}: no links to issue")
            revoked = consult.join_link_version or 0
            consult.join_link_version = revoked + 1
            await audit_log.append(session, actor, "consult.links_issued", consult_id=consult_id,
                                   details={"version": consult.join_link_version,
                                            "revoked_version": revoked})
        return self.join_links(consult)

    async def require_current_link(self, claims: JoinClaims) -> None:
        """Refuse a link that a re-issue replaced (read from the shared database at every
        use, so a re-issue on one node is honoured by all)."""
        async with self.db.reading() as session:
            current = await session.scalar(sa.select(ConsultRow.join_link_version).where(
                ConsultRow.id == claims.consult_id))
        if current is None:
            raise Unauthenticated("this link names a consult that does not exist")
        check_link_version(claims, current)

    async def record(self, consult_id: str) -> ConsultRecord:
        async with self.db.reading() as session:
            return await load_record(session, consult_id)

    async def snapshot(self, consult_id: str) -> ConsultSnapshot:
        return snapshot_of(await self.record(consult_id))

    async def audit_access(self, actor: Actor, consult_id: str, what: str) -> None:
        """Every view of the medical record by anyone is itself traceable."""
        await self.record_event(actor, consult_id, "record.viewed", {"what": what})

    async def cancel(self, actor: Actor, consult_id: str, reason: str,
                     trigger: ConsultTrigger = ConsultTrigger.CANCELLED) -> ConsultRecord:
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            await apply_transition(session, consult, trigger, actor, self.clock.now(),
                                   details={"reason": reason})
            return await load_record(session, consult_id)

    async def accept_recording_notice(self, actor: Actor, consult_id: str) -> ConsultRecord:
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            if ConsultState(consult.state) not in (ConsultState.BOOKED, ConsultState.WAITING,
                                                   ConsultState.IN_CALL):
                raise TransitionNotAllowed(f"the consult is {consult.state}")
            if consult.recording_notice_accepted_at is None:
                consult.recording_notice_accepted_at = self.clock.now()
                await audit_log.append(session, actor, "consult.recording_notice_accepted",
                                       consult_id=consult_id)
            return await load_record(session, consult_id)

    async def check_participant(self, claims: JoinClaims) -> None:
        """May this link's holder enter the live consult now? (Asked at socket connect.)"""
        record = await self.record(claims.consult_id)
        check_link_version(claims, record.consult.join_link_version or 0)
        state = ConsultState(record.consult.state)
        if state not in OPEN_STATES:
            raise ConsultClosed(f"the consult is {state}: it can no longer be joined",
                                state=state.value, outcome=record.consult.outcome)
        if claims.role is Role.PHYSICIAN:
            if claims.subject != record.consult.physician_id:
                raise Forbidden("this link is for another physician")
            reasons = physician_bookable_reasons(record.physician,
                                                 Specialty(record.consult.specialty), self.clock)
            if reasons:
                raise PhysicianNotWhitelisted(
                    "this physician may not hold first-visit consults now: "
                    + "; ".join(REASON_TEXT[r] for r in reasons), reasons)

    async def guardian_arrives(self, actor: Actor, consult_id: str) -> ConsultSnapshot:
        """The guardian enters: the waiting room on first arrival; back into the call after
        a reconnect. Needs the recording notice accepted."""
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            if consult.recording_notice_accepted_at is None:
                raise RecordingNoticeRequired(
                    "the guardian must accept the recording notice before joining")
            state = ConsultState(consult.state)
            if state is ConsultState.BOOKED:
                await apply_transition(session, consult, ConsultTrigger.GUARDIAN_JOINED, actor,
                                       self.clock.now())
            elif state in (ConsultState.WAITING, ConsultState.IN_CALL):
                await audit_log.append(session, actor, "participant.rejoined",
                                       consult_id=consult_id, details={"state": state.value})
            else:
                next_state(state, ConsultTrigger.GUARDIAN_JOINED)  # raises the precise refusal
            return snapshot_of(await load_record(session, consult_id))

    async def admit(self, actor: Actor, consult_id: str) -> ConsultSnapshot:
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            await apply_transition(session, consult, ConsultTrigger.ADMITTED, actor,
                                   self.clock.now())
            return snapshot_of(await load_record(session, consult_id))

    async def confirm_guardian_present(self, actor: Actor,
                                       consult_id: str) -> ConsultSnapshot:
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            if ConsultState(consult.state) is not ConsultState.IN_CALL:
                raise TransitionNotAllowed("guardian presence is confirmed during the call; "
                                           f"the consult is {consult.state}")
            if consult.guardian_confirmed_at is None:
                consult.guardian_confirmed_at = self.clock.now()
                await audit_log.append(session, actor, "consult.guardian_confirmed",
                                       consult_id=consult_id,
                                       details={"relationship": consult.guardian_relationship})
            return snapshot_of(await load_record(session, consult_id))

    async def record_accompanying_physician(
            self, actor: Actor, consult_id: str,
            body: AccompanyingPhysicianIn) -> dict[str, Any]:
        """The relevant professional physician with a child under 6 (互联网诊疗管理办法
        第十九条), recorded by the treating physician during the call; recording again
        replaces it, and the audit entry keeps what was there before."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            if ConsultState(consult.state) is not ConsultState.IN_CALL:
                raise TransitionNotAllowed("the accompanying physician is recorded during the "
                                           f"call; the consult is {consult.state}")
            row = await session.get(AccompanyingPhysicianRow, consult_id)
            previous = None if row is None else accompanying_physician_view(row)
            if row is None:
                row = AccompanyingPhysicianRow(consult_id=consult_id, name=body.name,
                                               licence_number=body.licence_number,
                                               institution=body.institution,
                                               recorded_by=f"{actor.role}:{actor.subject}",
                                               recorded_at=now)
                session.add(row)
            else:
                row.name, row.licence_number = body.name, body.licence_number
                row.institution, row.recorded_at = body.institution, now
                row.recorded_by = f"{actor.role}:{actor.subject}"
            await session.flush()
            recorded = accompanying_physician_view(row)
            await audit_log.append(session, actor, "consult.accompanying_physician_recorded",
                                   consult_id=consult_id, at=now,
                                   details={**recorded, "previous": previous})
        return recorded

    async def _check_prescription(self, actor: Actor, consult_id: str,
                                  body: Completed) -> None:
        """The drug catalogue and the under-6 rule, before anything is written; a refusal
        is audited (with the catalogue's version and sources) and raised. A consult that is
        not in the call is left to the transition's own refusal."""
        async with self.db.reading() as session:
            consult = await load_consult(session, consult_id)
            if ConsultState(consult.state) is not ConsultState.IN_CALL:
                return
            refusal = await prescribing_refusal(session, consult, body.prescription,
                                                self.clock.today())
        if refusal is not None:
            await self.record_event(actor, consult_id, "prescription.refused",
                                    refusal.audit_details)
            raise refusal

    async def end(self, actor: Actor, consult_id: str,
                  body: Completed | Referred | Aborted) -> ConsultSnapshot:
        """End the call with an outcome: the transition, the outcome, its audit entry and the
        events for hospital systems are one transaction; once it is committed, the people in
        the call are told (whoever ended it: the physician's socket or the API, or the
        automatic abort)."""
        now = self.clock.now()
        outcome = Outcome(body.outcome)
        if isinstance(body, Completed) and body.prescription:
            await self._check_prescription(actor, consult_id, body)
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            if outcome is not Outcome.ABORTED and consult.guardian_confirmed_at is None:
                raise GuardianPresenceRequired(
                    "confirm that a guardian is with the child before ending with a clinical "
                    "outcome")
            referral = referral_of(body)
            reference = new_reference_number(self.clock.date_of(now)) \
                if referral is not None else None
            data = outcome_data(body)
            has_prescription = isinstance(body, Completed) and bool(body.prescription)
            await apply_transition(session, consult, ConsultTrigger.ENDED, actor, now,
                                   outcome=outcome, details={"outcome_data": data,
                                                             "referral_reference": reference})
            row = OutcomeRow(consult_id=consult_id, outcome=outcome.value, data=data,
                             referral_reference=reference,
                             prescription_status="draft_for_review" if has_prescription else None,
                             recorded_by=f"{actor.role}:{actor.subject}", recorded_at=now)
            session.add(row)
            await session.flush()
            base = {"consult_id": consult_id, "specialty": consult.specialty,
                    "physician_id": consult.physician_id, "child_id": consult.child_id,
                    "ended_at": now.isoformat()}
            await enqueue(session, "consult.ended", consult_id=consult_id, at=now,
                          payload={**base, "outcome": outcome.value})
            if referral is not None:
                await enqueue(session, "referral.created", consult_id=consult_id, at=now,
                              payload={**base, "reference_number": reference,
                                       "referral": referral.model_dump(mode="json"),
                                       "guardian_phone": consult.guardian_phone})
            if isinstance(body, Completed) and body.prescription:
                await enqueue(session, "prescription.handoff", consult_id=consult_id, at=now,
                              payload={**base, "status": "draft_for_review",
                                       "signed_by_physician_id": consult.physician_id,
                                       "items": [i.model_dump(mode="json")
                                                 for i in body.prescription]})
            if isinstance(body, Aborted):
                await enqueue(session, "consult.aborted", consult_id=consult_id, at=now,
                              payload={**base, "reason": body.reason,
                                       "follow_up": body.follow_up, "alert": True})
                if body.follow_up == "reschedule":
                    await enqueue_reschedule(session, consult, now, body.reason,
                                             body.reason_text)
            ended = snapshot_of(await load_record(session, consult_id))
        await self.live.consult_ended(ended)
        return ended

    async def withdraw_physician(self, physician_id: str,
                                 reasons: list[str]) -> list[ConsultSnapshot]:
        """The physician may no longer hold consults (suspended, revoked): no family is
        left waiting for them. A call in progress ends as aborted, physician unavailable; a
        guardian in the waiting room sees the consult cancelled; each leaves a reschedule
        request for the hospital, and the people in the call are told at once. A consult
        only booked stays booked: the physician cannot join it unless reinstated first
        (a suspension may be lifted before the appointment)."""
        words = "; ".join(REASON_TEXT[r] for r in reasons)
        async with self.db.reading() as session:
            open_ids = list((await session.scalars(sa.select(ConsultRow.id).where(
                ConsultRow.physician_id == physician_id,
                ConsultRow.state.in_([ConsultState.WAITING.value, ConsultState.IN_CALL.value]))
                .order_by(ConsultRow.id))).all())
        closed: list[ConsultSnapshot] = []
        for consult_id in open_ids:
            try:
                closed.append(await self._close_for_withdrawn_physician(consult_id, words))
            except ShouzhenError:
                continue  # ended or cancelled meanwhile by someone else
        return closed

    async def _close_for_withdrawn_physician(self, consult_id: str,
                                             words: str) -> ConsultSnapshot:
        actor = Actor.system("whitelist")
        async with self.db.reading() as session:
            state = ConsultState((await load_consult(session, consult_id)).state)
        if state is ConsultState.IN_CALL:
            return await self.end(actor, consult_id,
                                  automatic_abort(PHYSICIAN_UNAVAILABLE, words))
        now = self.clock.now()
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            await apply_transition(session, consult, ConsultTrigger.CANCELLED, actor, now,
                                   details={"reason": PHYSICIAN_UNAVAILABLE,
                                            "reason_text": words})
            await enqueue_reschedule(session, consult, now, PHYSICIAN_UNAVAILABLE, words)
            closed = snapshot_of(await load_record(session, consult_id))
        await self.live.consult_ended(closed)
        return closed

    async def record_event(self, actor: Actor, consult_id: str, action: str,
                           details: dict[str, Any] | None = None) -> None:
        """An audit entry for something that changes no row (presence, media, refusals)."""
        async with self.db.transaction() as session:
            await audit_log.append(session, actor, action, consult_id=consult_id,
                                   details=details or {})

    async def submit_intake(self, actor: Actor, consult_id: str, raw: bytes) -> ConsultRecord:
        now = self.clock.now()
        problems: list[FieldError] = []
        async with self.db.transaction() as session:
            consult = await load_consult(session, consult_id, for_update=True)
            if ConsultState(consult.state) not in INTAKE_EDITABLE_STATES:
                raise TransitionNotAllowed(
                    f"the intake can be changed only before the call; the consult is "
                    f"{consult.state}")
            child = await session.get_one(ChildRow, consult.child_id)
            intake = validate_intake(Specialty(consult.specialty), raw,
                                     birth_date=child.birth_date, today=self.clock.today())
            if isinstance(intake, (GrowthIntake, NutritionIntake)):
                # Impossible values (metres for centimetres, a weight of 0), a current value
                # beyond the WHO's implausibility flags for this child's age and a weight
                # that looks like 斤 are refused here; an implausible past value is kept and
                # scored as "re-measure".
                problems = growth_input_errors(intake, sex=child.sex,
                                               birth_date=child.birth_date,
                                               today=self.clock.today())
            if not problems:
                data = intake_to_json(intake)
                row = await session.get(IntakeRow, consult_id)
                if row is None:
                    row = IntakeRow(consult_id=consult_id, specialty=consult.specialty,
                                    data=data, revision=1, submitted_at=now, updated_at=now)
                    session.add(row)
                else:
                    row.data, row.revision, row.updated_at = data, row.revision + 1, now
                await session.flush()
                await audit_log.append(session, actor, "intake.submitted",
                                       consult_id=consult_id, at=now,
                                       details={"revision": row.revision, "intake": data})
                return await load_record(session, consult_id)
        # Refused against the child's age and sex (implausible, or a unit to ask about): kept
        # in the audit log with what was asked, nothing stored.
        await self.record_event(actor, consult_id, "intake.refused",
                                {"errors": _error_list(problems)})
        raise InvalidInput(problems)


def _error_list(errors: list[FieldError]) -> list[dict[str, str]]:
    return [{"field": e.field, "message": e.message} for e in errors]


async def enqueue_reschedule(session: AsyncSession, consult: ConsultRow, now: datetime,
                             reason: str, reason_text: str) -> None:
    """The family must be offered another appointment: the booking system's cue."""
    await enqueue(session, "consult.reschedule_requested", consult_id=consult.id, at=now,
                  payload={"consult_id": consult.id, "specialty": consult.specialty,
                           "physician_id": consult.physician_id, "child_id": consult.child_id,
                           "state": consult.state, "reason": reason,
                           "reason_text": reason_text, "guardian_phone": consult.guardian_phone,
                           "requested_at": now.isoformat()})


def check_link_version(claims: JoinClaims, current: int) -> None:
    if claims.version != current:
        raise Unauthenticated("this link was replaced by a newer one: ask the hospital for the "
                              "current link")


def consult_view(record: ConsultRecord, *, for_staff: bool) -> dict[str, Any]:
    """What a participant sees of their consult; staff also see contact details and ids."""
    c, child, doc = record.consult, record.child, record.physician
    view: dict[str, Any] = {
        "id": c.id,
        "specialty": {"code": c.specialty, "zh": SPECIALTY_NAMES[Specialty(c.specialty)][0],
                      "en": SPECIALTY_NAMES[Specialty(c.specialty)][1]},
        "state": c.state,
        "outcome": c.outcome,
        "scheduled_start": c.scheduled_start.isoformat(),
        "window_end": c.window_end.isoformat(),
        "physician": {"name": doc.name, "title": doc.title, "department": doc.department},
        "child": {"name": child.name, "sex": child.sex,
                  "birth_date": child.birth_date.isoformat()},
        "guardian": {"name": c.guardian_name, "relationship": c.guardian_relationship},
        "recording_notice_accepted_at": _iso(c.recording_notice_accepted_at),
        "guardian_confirmed_at": _iso(c.guardian_confirmed_at),
        "outcome_detail": None if record.outcome is None else outcome_view(record.outcome),
        "intake": None if record.intake is None else {
            "revision": record.intake.revision, "data": record.intake.data,
            "updated_at": record.intake.updated_at.isoformat()},
    }
    if for_staff:
        view["physician"]["id"] = doc.id
        view["child"]["id"] = child.id
        view["child"]["patient_id"] = child.hospital_patient_id
        view["guardian"]["phone"] = c.guardian_phone
        view["created_at"] = c.created_at.isoformat()
        view["admitted_at"] = _iso(c.admitted_at)
        view["ended_at"] = _iso(c.ended_at)
    return view


def snapshot_of(record: ConsultRecord) -> ConsultSnapshot:
    c = record.consult
    return ConsultSnapshot(
        id=c.id, state=ConsultState(c.state), outcome=c.outcome,
        outcome_detail=None if record.outcome is None else outcome_view(record.outcome),
        guardian_name=c.guardian_name, guardian_relationship=c.guardian_relationship,
        updated_at=c.updated_at, guardian_confirmed_at=c.guardian_confirmed_at,
        participant_view=consult_view(record, for_staff=False))


def outcome_view(row: OutcomeRow) -> dict[str, Any]:
    data = dict(row.data)
    referral = data.get("referral")
    if isinstance(referral, dict):
        data["referral"] = referral_view(referral, row.referral_reference)
    return {**data, "referral_reference": row.referral_reference,
            "prescription_status": row.prescription_status,
            "recorded_at": row.recorded_at.isoformat()}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def accompanying_physician_view(row: AccompanyingPhysicianRow) -> dict[str, Any]:
    return {"name": row.name, "licence_number": row.licence_number,
            "institution": row.institution, "recorded_by": row.recorded_by,
            "recorded_at": row.recorded_at.isoformat()}
