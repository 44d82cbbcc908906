"""Years later: was an artefact that is gone purged lawfully, or did it go missing?

A `retention.purged` entry of the audit chain accounts for a missing artefact only if it
describes the very file (hash, size, class as sealed), was written by a role that may purge,
and the rule — recomputed from the consult's own facts, not from the expiry the entry claims —
agrees the retention had ended with no legal hold open. Pure functions over plain data: the
caller reads the audit chain and the holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from recorder.archive_manifest import ManifestEntry
from recorder.retention import (
    HoldPeriod,
    RetainedArtefact,
    RetentionPolicy,
    expires_at,
    purge_decision,
    retention_anchor,
)
from recorder.retention_purge import PURGED, ConsultFacts

# A purge entry whose rule time differs this much from when it was written ran with a
# clock override (`--now`): lawful if the rule agrees, but an auditor is told.
CLOCK_OVERRIDE_TOLERANCE = timedelta(minutes=5)


class AuditRecord(Protocol):
    """An audit-chain entry as the caller read it back (server.kernel.audit_log)."""

    @property
    def seq(self) -> int: ...

    @property
    def at(self) -> str: ...  # ISO 8601

    @property
    def actor_role(self) -> str: ...

    @property
    def actor_id(self) -> str: ...

    @property
    def action(self) -> str: ...

    def details_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PurgeRecord:
    """A `retention.purged` audit entry, read back."""

    seq: int
    at: datetime
    actor_role: str
    actor_id: str
    path: str
    sha256: str
    size: int
    retention_class: str
    expires_at: datetime
    evaluated_at: datetime
    clock_override: bool
    policy: RetentionPolicy

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at.isoformat(),
                "by": f"{self.actor_role}:{self.actor_id}",
                "expires_at": self.expires_at.isoformat(),
                "evaluated_at": self.evaluated_at.isoformat(),
                "clock_override": self.clock_override}


def purge_records(entries: Iterable[AuditRecord]) -> dict[str, PurgeRecord]:
    """The purge entries of one consult by artefact path (a later one wins)."""
    found: dict[str, PurgeRecord] = {}
    for entry in entries:
        if entry.action != PURGED:
            continue
        try:
            details = entry.details_dict()
            policy = details.get("policy", {})
            found[str(details["path"])] = PurgeRecord(
                seq=entry.seq, at=datetime.fromisoformat(entry.at),
                actor_role=entry.actor_role, actor_id=entry.actor_id,
                path=str(details["path"]), sha256=str(details["sha256"]),
                size=int(details["size"]), retention_class=str(details["retention_class"]),
                expires_at=datetime.fromisoformat(str(details["expires_at"])),
                evaluated_at=datetime.fromisoformat(str(details["evaluated_at"])),
                clock_override=bool(details.get("clock_override", False)),
                # Floored again here: a record claiming a 1-year period proves nothing.
                policy=RetentionPolicy(int(policy.get("process_record_years", 0)),
                                       int(policy.get("medical_record_years", 0))))
        except (KeyError, TypeError, ValueError):
            continue  # an unreadable purge record vouches for nothing: the file is "missing"
    return found


@dataclass(frozen=True)
class PurgeJudgement:
    lawful: bool
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def judge_purge_record(record: PurgeRecord, sealed: ManifestEntry, consult_ended_at: datetime,
                       child_visits: Iterable[datetime], holds: Iterable[HoldPeriod],
                       time_zone: ZoneInfo) -> PurgeJudgement:
    """Pure: does the purge entry account for this missing artefact, by the rule?

    The rule is recomputed from the consult's own facts (not the expiry the entry claims):
    the child's visits known when the rule ran, the periods floored at the legal minimums,
    and the legal holds open at the time — so a deletion dressed up as a purge fails.
    """
    problems: list[str] = []
    warnings: list[str] = []
    if (record.sha256, record.size, record.retention_class) != (
            sealed.sha256, sealed.size, sealed.retention_class.value):
        problems.append("the purge record describes other content than the sealed manifest")
    if record.actor_role not in ("admin", "system"):
        problems.append(f"purged by a {record.actor_role}, who may not purge")
    seen_visits = [v for v in child_visits if v <= record.evaluated_at]
    policy = RetentionPolicy(record.policy.process_record_years,
                             record.policy.medical_record_years, time_zone=time_zone)
    expiry = expires_at(RetainedArtefact(sealed.path, sealed.retention_class, consult_ended_at,
                                         max(seen_visits, default=None)), policy)
    if record.evaluated_at < expiry:
        problems.append(f"purged before its retention ended (it ran until "
                        f"{expiry.isoformat()}; the purge ran as of "
                        f"{record.evaluated_at.isoformat()})")
    if any(hold.open_at(record.at) or hold.open_at(record.evaluated_at) for hold in holds):
        problems.append("purged while a legal hold was open")
    if record.clock_override or abs(record.evaluated_at - record.at) > CLOCK_OVERRIDE_TOLERANCE:
        warnings.append(f"the purge applied the rule as of {record.evaluated_at.isoformat()} "
                        f"but was written at {record.at.isoformat()} (a clock override)")
    return PurgeJudgement(not problems, tuple(problems), tuple(warnings))


def retention_overview(facts: ConsultFacts, entries: Iterable[ManifestEntry],
                       present: set[str], purged: dict[str, PurgeRecord],
                       policy: RetentionPolicy, now: datetime) -> list[dict[str, Any]]:
    """Pure: each sealed artefact's class, expiry under today's policy, and state."""
    rows = []
    for entry in entries:
        retained = RetainedArtefact(entry.path, entry.retention_class, facts.ended_at,
                                    facts.child_last_visit_at)
        decision = purge_decision(retained, now, facts.legal_hold, policy)
        state = "present" if entry.path in present else (
            "purged" if entry.path in purged else "missing")
        rows.append({"path": entry.path, "retention_class": entry.retention_class.value,
                     "counted_from": retention_anchor(retained).isoformat(),
                     "expires_at": decision.expires_at.isoformat(),
                     "purgeable_now": decision.purgeable, "state": state})
    return rows
