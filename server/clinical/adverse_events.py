"""Adverse events (负性事件 / 医疗安全不良事件) filed by staff against a consult.

Kept with the consult, audited, announced to the hospital's quality system as an outbox event
(`adverse_event.reported`), and counted in the quality report. Severity follows the national
four-level grading of medical safety adverse events (医疗安全不良事件分级, I–IV).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AwareDatetime, StringConstraints

from server.clinical.consults import load_consult
from server.events.outbox import enqueue
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.errors import FieldError, InvalidInput
from server.kernel.models import AdverseEventRow
from server.kernel.validation import StrictModel

Category = Literal["misdiagnosis_suspected", "delayed_referral", "technical_failure_harm",
                   "privacy_incident", "medication_error", "guardian_identity", "other"]
Severity = Literal["sentinel", "harm", "no_harm", "near_miss"]

CATEGORY_NAMES: dict[str, tuple[str, str]] = {
    "misdiagnosis_suspected": ("疑似误诊", "Suspected misdiagnosis"),
    "delayed_referral": ("转诊延误", "Delayed referral"),
    "technical_failure_harm": ("技术故障致不良后果", "Harm from a technical failure"),
    "privacy_incident": ("隐私泄露", "Privacy incident"),
    "medication_error": ("用药差错", "Medication error"),
    "guardian_identity": ("监护人身份问题", "Guardian identity problem"),
    "other": ("其他", "Other"),
}

SEVERITY_NAMES: dict[str, tuple[str, str]] = {
    "sentinel": ("I级 警讯事件", "Level I: sentinel event (death or permanent harm)"),
    "harm": ("II级 不良后果事件", "Level II: adverse event with harm"),
    "no_harm": ("III级 未造成后果事件", "Level III: reached the patient, no harm"),
    "near_miss": ("IV级 隐患事件", "Level IV: near miss"),
}


class AdverseEventIn(StrictModel):
    category: Category
    severity: Severity
    description: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    occurred_at: AwareDatetime | None = None


def adverse_event_view(row: AdverseEventRow) -> dict[str, Any]:
    return {"id": row.id, "consult_id": row.consult_id, "category": row.category,
            "category_name": dict(zip(("zh", "en"), CATEGORY_NAMES[row.category],
                                      strict=True)),
            "severity": row.severity,
            "severity_name": dict(zip(("zh", "en"), SEVERITY_NAMES[row.severity],
                                      strict=True)),
            "description": row.description,
            "occurred_at": row.occurred_at.isoformat() if row.occurred_at else None,
            "reported_by": row.reported_by, "reported_at": row.reported_at.isoformat()}


class AdverseEvents:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def report(self, actor: Actor, consult_id: str,
                     body: AdverseEventIn) -> dict[str, Any]:
        now = self.clock.now()
        if body.occurred_at is not None and body.occurred_at > now:
            raise InvalidInput([FieldError("occurred_at", "is in the future")])
        async with self.db.transaction() as session:
            # 404 for an unknown consult. Locked: a consult's events must commit in the order
            # of their ids, which per-consult delivery order relies on (server/event_delivery).
            consult = await load_consult(session, consult_id, for_update=True)
            row = AdverseEventRow(id=uuid.uuid4().hex, consult_id=consult.id,
                                  category=body.category, severity=body.severity,
                                  description=body.description, occurred_at=body.occurred_at,
                                  reported_by=f"{actor.role}:{actor.subject}", reported_at=now)
            session.add(row)
            await session.flush()
            await audit_log.append(session, actor, "adverse_event.reported",
                                   consult_id=consult_id, at=now,
                                   details={"id": row.id, "category": row.category,
                                            "severity": row.severity,
                                            "description": row.description,
                                            "occurred_at": row.occurred_at})
            await enqueue(session, "adverse_event.reported", consult_id=consult_id, at=now,
                          payload={"consult_id": consult_id, "adverse_event_id": row.id,
                                   "category": row.category, "severity": row.severity,
                                   "description": row.description,
                                   "occurred_at": body.occurred_at.isoformat()
                                   if body.occurred_at else None,
                                   "specialty": consult.specialty,
                                   "physician_id": consult.physician_id,
                                   "reported_at": now.isoformat()})
            return adverse_event_view(row)

    async def list_for(self, actor: Actor, consult_id: str) -> list[dict[str, Any]]:
        async with self.db.transaction() as session:
            await load_consult(session, consult_id)
            rows = (await session.scalars(sa.select(AdverseEventRow).where(
                AdverseEventRow.consult_id == consult_id).order_by(
                AdverseEventRow.reported_at, AdverseEventRow.id))).all()
            await audit_log.append(session, actor, "record.viewed", consult_id=consult_id,
                                   details={"what": "adverse_events"})
            return [adverse_event_view(r) for r in rows]
