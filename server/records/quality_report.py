"""The quality and safety report the pilot's evaluation asks for (质量与安全评价).

For the consults scheduled in a period (calendar dates in the hospital's time zone, both ends
included): consults per specialty and per physician, outcomes, the referral rate and its
reasons, aborted consults and why, the wait in the waiting room (the guardian entering →
the physician admitting, from the audit log), call-quality incidents and adverse events.

Reading the facts is one function (`gather`); everything else is pure (`build_report`),
so the arithmetic is tested without a database.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.clinical.adverse_events import CATEGORY_NAMES, SEVERITY_NAMES
from server.clinical.referral import DEPARTMENTS, REASON_NAMES, URGENCY_NAMES
from server.clinical.specialties import SPECIALTY_NAMES, Specialty
from server.kernel.errors import MalformedRequest
from server.kernel.models import (
    AdverseEventRow,
    AuditEntryRow,
    ConsultRow,
    OutcomeRow,
    PhysicianRow,
)
from server.kernel.validation import calendar_day

MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
# How each consult is counted: the outcome if it ended, else its closing state, else "open".
CATEGORIES = ("completed", "referred", "aborted", "cancelled", "no_show", "open")
ENDED = ("completed", "referred", "aborted")
INCIDENT_ACTIONS = ("participant.quality", "participant.interrupted", "media.queue_overflow")
WAIT_ACTIONS = ("consult.guardian_joined", "consult.admitted")
# Why a call could not go on (server/clinical/outcome.py `Aborted.reason`).
ABORT_REASON_NAMES: dict[str, tuple[str, str]] = {
    "technical_failure": ("技术故障", "Technical failure"),
    "no_show_after_admit": ("接入后未到场", "No-show after admission"),
    "guardian_left": ("监护人离开未返回", "Guardian left and did not return"),
    "physician_connection_lost": ("医生连接中断", "Physician's connection lost"),
    "window_expired": ("问诊时段已结束", "Consult window ran out"),
    "other": ("其他", "Other"),
}


@dataclass(frozen=True)
class ReportPeriod:
    first_day: date
    last_day: date
    timezone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), self.timezone)

    @property
    def end(self) -> datetime:  # exclusive
        return datetime.combine(self.last_day + timedelta(days=1), time(), self.timezone)


def parse_period(first: str | None, last: str | None, *, today: date,
                 timezone: ZoneInfo) -> ReportPeriod:
    """`from`/`to` as YYYY-MM-DD, both included; default: the last 30 days up to today."""
    last_day = calendar_day(last, "to") if last else today
    first_day = calendar_day(first, "from") if first else \
        last_day - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first_day > last_day:
        raise MalformedRequest(f"from ({first_day}) is after to ({last_day})")
    if (last_day - first_day).days + 1 > MAX_PERIOD_DAYS:
        raise MalformedRequest(f"a report covers at most {MAX_PERIOD_DAYS} days")
    return ReportPeriod(first_day, last_day, timezone)


@dataclass(frozen=True)
class ConsultFacts:
    consult_id: str
    specialty: str
    physician_id: str
    physician_name: str
    state: str
    outcome: str | None
    outcome_data: dict[str, Any] | None
    recorded_by: str | None
    ended_at: datetime | None
    guardian_joined_at: datetime | None
    admitted_at: datetime | None

    @property
    def category(self) -> str:
        if self.state in ("ended", "archived") and self.outcome in ENDED:
            return self.outcome
        if self.state in ("cancelled", "no_show"):
            return self.state
        return "open"

    @property
    def referral(self) -> dict[str, Any] | None:
        referral = (self.outcome_data or {}).get("referral")
        return referral if isinstance(referral, dict) else None


@dataclass(frozen=True)
class Incident:
    consult_id: str
    kind: str  # poor_quality | interrupted | queue_overflow
    role: str
    at: str


@dataclass(frozen=True)
class AdverseFacts:
    event_id: str
    consult_id: str
    category: str
    severity: str
    description: str
    reported_at: datetime


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at
    or below it (p90 of ten waits is the ninth longest, an actual observed wait)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _named(code: str, table: dict[str, tuple[str, str]]) -> dict[str, str]:
    zh, en = table.get(code, (code, code))
    return {"code": code, "zh": zh, "en": en}


def _counts(consults: Iterable[ConsultFacts]) -> dict[str, Any]:
    counted = Counter(c.category for c in consults)
    ended = sum(counted[k] for k in ENDED)
    return {"consults": sum(counted.values()), **{k: counted[k] for k in CATEGORIES},
            "referral_rate": _rate(counted["referred"], ended)}


def _wait_seconds(consults: Iterable[ConsultFacts]) -> list[float]:
    return [(c.admitted_at - c.guardian_joined_at).total_seconds() for c in consults
            if c.admitted_at is not None and c.guardian_joined_at is not None
            and c.admitted_at >= c.guardian_joined_at]


def build_report(period: ReportPeriod, consults: Sequence[ConsultFacts],
                 incidents: Sequence[Incident], adverse: Sequence[AdverseFacts],
                 ) -> dict[str, Any]:
    by_specialty = []
    for specialty in Specialty:
        group = [c for c in consults if c.specialty == specialty.value]
        by_specialty.append({"specialty": _named(specialty.value, {
            s.value: names for s, names in SPECIALTY_NAMES.items()}), **_counts(group)})
    physicians: dict[str, list[ConsultFacts]] = {}
    for c in consults:
        physicians.setdefault(c.physician_id, []).append(c)
    by_physician = sorted(
        ({"physician_id": pid, "name": group[0].physician_name, **_counts(group)}
         for pid, group in physicians.items()),
        key=lambda row: (-row["consults"], row["name"], row["physician_id"]))

    totals = _counts(consults)
    ended = sum(totals[k] for k in ENDED)
    referrals = [(c, c.referral) for c in consults if c.referral is not None]
    aborted = [c for c in consults if c.category == "aborted"]
    waits = _wait_seconds(consults)
    joined_not_admitted = sum(1 for c in consults
                              if c.guardian_joined_at is not None and c.admitted_at is None
                              and c.category != "open")
    incident_kinds = Counter(i.kind for i in incidents)
    affected = {i.consult_id for i in incidents}
    admitted = sum(1 for c in consults if c.admitted_at is not None)

    return {
        "period": {"from": period.first_day.isoformat(), "to": period.last_day.isoformat(),
                   "timezone": period.timezone.key},
        "totals": totals,
        "by_specialty": by_specialty,
        "by_physician": by_physician,
        "referrals": {
            "referred_outcomes": totals["referred"],
            "referral_rate": totals["referral_rate"],
            # Aborted consults that sent the family to an in-person visit count here too.
            "total_with_aborted": len(referrals),
            "rate_with_aborted": _rate(len(referrals), ended),
            "by_reason": _tally((r["reason"] for _, r in referrals), REASON_NAMES),
            "by_urgency": _tally((r["urgency"] for _, r in referrals), URGENCY_NAMES),
            "by_department": _tally((r["department"] for _, r in referrals), DEPARTMENTS),
        },
        "aborted": {
            "count": len(aborted),
            "automatic": sum(1 for c in aborted if (c.recorded_by or "").startswith("system:")),
            "by_reason": _tally(((c.outcome_data or {}).get("reason", "other")
                                 for c in aborted), ABORT_REASON_NAMES),
            "by_follow_up": dict(Counter((c.outcome_data or {}).get("follow_up", "")
                                         for c in aborted)),
            "consults": [{"consult_id": c.consult_id, "specialty": c.specialty,
                          "physician_id": c.physician_id,
                          "ended_at": c.ended_at.isoformat() if c.ended_at else None,
                          "reason": (c.outcome_data or {}).get("reason"),
                          "reason_text": (c.outcome_data or {}).get("reason_text") or "",
                          "follow_up": (c.outcome_data or {}).get("follow_up"),
                          "automatic": (c.recorded_by or "").startswith("system:")}
                         for c in sorted(aborted, key=lambda c: (c.ended_at is None,
                                                                c.ended_at, c.consult_id))],
        },
        "waiting_room": {
            "admitted": len(waits),
            "average_seconds": round(sum(waits) / len(waits), 1) if waits else None,
            "p90_seconds": percentile(waits, 0.9),
            "max_seconds": max(waits) if waits else None,
            "joined_but_never_admitted": joined_not_admitted,
        },
        "call_quality": {
            "incidents": len(incidents),
            "by_kind": {k: incident_kinds[k] for k in ("poor_quality", "interrupted",
                                                       "queue_overflow")},
            "consults_affected": len(affected),
            "share_of_calls_affected": _rate(len(affected & {
                c.consult_id for c in consults if c.admitted_at is not None}), admitted),
        },
        "adverse_events": {
            "count": len(adverse),
            "by_category": _tally((a.category for a in adverse), CATEGORY_NAMES),
            "by_severity": _tally((a.severity for a in adverse), SEVERITY_NAMES),
            "events": [{"id": a.event_id, "consult_id": a.consult_id, "category": a.category,
                        "severity": a.severity, "description": a.description,
                        "reported_at": a.reported_at.isoformat()}
                       for a in sorted(adverse, key=lambda a: (a.reported_at, a.event_id))],
        },
    }


def _tally(codes: Iterable[str], names: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    counted = Counter(codes)
    return [{**_named(code, names), "count": n}
            for code, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))]


# -- reading the facts -------------------------------------------------------------------


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def gather(session: AsyncSession, period: ReportPeriod) -> tuple[
        list[ConsultFacts], list[Incident], list[AdverseFacts]]:
    in_period = sa.and_(ConsultRow.scheduled_start >= period.start,
                        ConsultRow.scheduled_start < period.end)
    rows = (await session.execute(
        sa.select(ConsultRow, PhysicianRow.name, OutcomeRow)
        .join(PhysicianRow, PhysicianRow.id == ConsultRow.physician_id)
        .outerjoin(OutcomeRow, OutcomeRow.consult_id == ConsultRow.id)
        .where(in_period))).all()
    ids = sa.select(ConsultRow.id).where(in_period).scalar_subquery()
    entries = (await session.execute(
        sa.select(AuditEntryRow.consult_id, AuditEntryRow.action, AuditEntryRow.at,
                  AuditEntryRow.actor_role, AuditEntryRow.details)
        .where(AuditEntryRow.consult_id.in_(ids),
               AuditEntryRow.action.in_(INCIDENT_ACTIONS + WAIT_ACTIONS))
        .order_by(AuditEntryRow.seq))).all()
    joined: dict[str, datetime] = {}
    admitted: dict[str, datetime] = {}
    incidents: list[Incident] = []
    for consult_id, action, at, role, details_text in entries:
        if consult_id is None:  # not possible with the IN filter; keeps the types honest
            continue
        if action == "consult.guardian_joined":
            joined.setdefault(consult_id, _at(at))
        elif action == "consult.admitted":
            admitted.setdefault(consult_id, _at(at))
        elif action == "participant.quality":
            if json.loads(details_text).get("quality") == "poor":
                incidents.append(Incident(consult_id, "poor_quality", role, at))
        elif action == "participant.interrupted":
            incidents.append(Incident(consult_id, "interrupted", role, at))
        elif action == "media.queue_overflow":
            details = json.loads(details_text)
            incidents.append(Incident(consult_id, "queue_overflow",
                                      str(details.get("role", role)), at))
    consults = [ConsultFacts(
        consult_id=c.id, specialty=c.specialty, physician_id=c.physician_id,
        physician_name=name, state=c.state, outcome=c.outcome,
        outcome_data=o.data if o is not None else None,
        recorded_by=o.recorded_by if o is not None else None, ended_at=c.ended_at,
        guardian_joined_at=joined.get(c.id),
        admitted_at=admitted.get(c.id, c.admitted_at)) for c, name, o in rows]
    adverse = [AdverseFacts(a.id, a.consult_id, a.category, a.severity, a.description,
                            a.reported_at)
               for a in (await session.scalars(sa.select(AdverseEventRow).where(
                   AdverseEventRow.consult_id.in_(ids)))).all()]
    return consults, incidents, adverse


async def quality_report(session: AsyncSession, period: ReportPeriod) -> dict[str, Any]:
    return build_report(period, *await gather(session, period))
