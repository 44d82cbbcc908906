"""Retention purge: delete sealed artefacts whose retention has ended and that no legal hold
keeps, one audit entry per deletion; and the rules an auditor uses years later to tell such a
lawful purge from a file that simply went missing.

The rule itself is `recorder.retention` (pure, floored at the legal minimums). This module
gathers its inputs from the database and the sealed manifests:

* what: every artefact listed in a consult's sealed manifest, with its retention class from
  the manifest — never from a file name, and only from a manifest whose hash still equals the
  sealed one (a relabelled manifest could otherwise make a medical record look like a 3-year
  process record);
* process records count from the end of their consult;
* medical records count from the child's LAST visit: the latest end of any consult of the same
  child (`child_id`), so a later visit extends the whole record.

Order of a deletion: the `retention.purged` entry is committed first (under the consult's row
lock, after re-checking holds), then the file is deleted. A crash in between leaves an entry
and a file that is still there and still verifies — never a file gone without its evidence.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from recorder.archive_manifest import MANIFEST_FORMAT, ManifestEntry
from recorder.retention import (
    PurgeDecision,
    RetainedArtefact,
    RetentionClass,
    RetentionPolicy,
    expires_at,
    purge_decision,
    retention_anchor,
)
from recorder.storage import (
    InvalidKey,
    LocalDirectoryStorage,
    ObjectNotFound,
    StorageError,
    key_join,
)
from server.clinical.consults import load_consult
from server.kernel import audit_log
from server.kernel.audit_log import Actor, AuditEntry
from server.kernel.config import Settings
from server.kernel.db import Database
from server.kernel.models import ArchiveRow, ConsultRow
from server.records.legal_holds import HoldPeriod, held_consults

log = logging.getLogger("shouzhen.retention")
PURGED = "retention.purged"
# A purge entry whose rule time differs this much from when it was written ran with a
# clock override (`--now`): lawful if the rule agrees, but an auditor is told.
CLOCK_OVERRIDE_TOLERANCE = timedelta(minutes=5)


def policy_from_settings(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(process_record_years=settings.process_record_years,
                           medical_record_years=settings.medical_record_years,
                           time_zone=ZoneInfo(settings.timezone))


# -- the sealed manifest, as the database vouches for it -----------------------------------


class ManifestProblem(Exception):
    """The sealed manifest is missing, unreadable, or no longer the one that was sealed."""


def parse_manifest(raw: bytes) -> list[ManifestEntry]:
    """The entries of a manifest document; ManifestProblem if it is not one."""
    try:
        document = json.loads(raw.decode("utf-8"))
        if document.get("format") != MANIFEST_FORMAT:
            raise ManifestProblem(f"unknown manifest format {document.get('format')!r}")
        return [ManifestEntry(str(item["path"]), RetentionClass(item["retention_class"]),
                              str(item["media_type"]), str(item["sha256"]), int(item["size"]))
                for item in document["artefacts"]]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ManifestProblem(f"the manifest cannot be read: {error!r}") from None


def archive_root_key(archive: ArchiveRow) -> str:
    """The archive root is the manifest's directory (consults/<id>)."""
    return archive.manifest_key.rsplit("/", 1)[0]


async def read_sealed_manifest(storage: LocalDirectoryStorage,
                               archive: ArchiveRow) -> list[ManifestEntry]:
    loop = asyncio.get_running_loop()
    try:
        raw = await loop.run_in_executor(None, storage.read, archive.manifest_key)
    except (ObjectNotFound, StorageError) as error:
        raise ManifestProblem(f"the manifest {archive.manifest_key} is missing ({error})") \
            from None
    actual = hashlib.sha256(raw).hexdigest()
    if actual != archive.manifest_sha256:
        raise ManifestProblem(f"the manifest's hash is {actual}, not the sealed "
                              f"{archive.manifest_sha256}")
    return parse_manifest(raw)


# -- the facts and the rule -----------------------------------------------------------------


@dataclass(frozen=True)
class ConsultFacts:
    """What retention needs to know about one sealed consult."""

    consult_id: str
    child_id: str
    ended_at: datetime  # anchor of its process records (sealed_at if it never took place)
    child_last_visit_at: datetime | None  # latest end of any consult of the same child
    legal_hold: bool


@dataclass(frozen=True)
class SealedArtefact:
    consult_id: str
    storage_key: str
    entry: ManifestEntry  # path, class, hash and size as sealed


@dataclass(frozen=True)
class PurgeItem:
    artefact: SealedArtefact
    decision: PurgeDecision
    anchor: datetime

    def to_dict(self) -> dict[str, Any]:
        entry = self.artefact.entry
        return {"consult_id": self.artefact.consult_id, "path": entry.path,
                "storage_key": self.artefact.storage_key,
                "retention_class": entry.retention_class.value, "sha256": entry.sha256,
                "size": entry.size, "counted_from": self.anchor.isoformat(),
                "expires_at": self.decision.expires_at.isoformat(),
                "reason": self.decision.reason}


def judge(artefact: SealedArtefact, facts: ConsultFacts, now: datetime,
          policy: RetentionPolicy) -> PurgeItem:
    """Pure: may this artefact go at `now`?"""
    retained = RetainedArtefact(artefact.storage_key, artefact.entry.retention_class,
                                facts.ended_at, facts.child_last_visit_at)
    return PurgeItem(artefact, purge_decision(retained, now, facts.legal_hold, policy),
                     retention_anchor(retained))


@dataclass
class PurgeReport:
    evaluated_at: datetime
    dry_run: bool
    clock_override: bool
    policy: RetentionPolicy
    purged: list[PurgeItem] = field(default_factory=list)  # or, in a dry run, would be
    held: list[PurgeItem] = field(default_factory=list)  # expired, kept by a legal hold
    kept: list[PurgeItem] = field(default_factory=list)  # retention still running
    failed: list[tuple[PurgeItem, str]] = field(default_factory=list)
    absent: list[SealedArtefact] = field(default_factory=list)  # gone already (see verify)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (consult, problem)

    def to_dict(self) -> dict[str, Any]:
        next_expiry = min((item.decision.expires_at for item in self.kept), default=None)
        return {
            "evaluated_at": self.evaluated_at.isoformat(), "dry_run": self.dry_run,
            "clock_override": self.clock_override,
            "policy": {"process_record_years": self.policy.process_record_years,
                       "medical_record_years": self.policy.medical_record_years},
            "purged" if not self.dry_run else "would_purge":
                [item.to_dict() for item in self.purged],
            "held": [item.to_dict() for item in self.held],
            "kept": len(self.kept),
            "next_expiry": next_expiry.isoformat() if next_expiry else None,
            "failed": [{**item.to_dict(), "error": error} for item, error in self.failed],
            "absent": [{"consult_id": a.consult_id, "path": a.entry.path} for a in self.absent],
            "unreadable": [{"consult_id": c, "problem": p} for c, p in self.unreadable],
        }


# -- gathering the facts --------------------------------------------------------------------


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


@dataclass
class Survey:
    facts: dict[str, ConsultFacts] = field(default_factory=dict)
    present: list[SealedArtefact] = field(default_factory=list)
    absent: list[SealedArtefact] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


async def survey_archives(db: Database, storage: LocalDirectoryStorage,
                          consult_ids: Sequence[str] | None = None) -> Survey:
    """Every sealed consult's artefacts, whether each is still stored, and the facts the
    rule needs. Reads manifests, never file contents."""
    survey = Survey()
    async with db.reading() as session:
        query = sa.select(ArchiveRow, ConsultRow).join(
            ConsultRow, ConsultRow.id == ArchiveRow.consult_id).order_by(ArchiveRow.sealed_at)
        if consult_ids is not None:
            query = query.where(ArchiveRow.consult_id.in_(list(consult_ids)))
        sealed = (await session.execute(query)).all()
        visits = await last_visits(session, {consult.child_id for _, consult in sealed})
        held = await held_consults(session, [archive.consult_id for archive, _ in sealed])
    loop = asyncio.get_running_loop()
    for archive, consult in sealed:
        survey.facts[consult.id] = ConsultFacts(
            consult.id, consult.child_id, consult.ended_at or archive.sealed_at,
            visits.get(consult.child_id), consult.id in held)
        try:
            entries = await read_sealed_manifest(storage, archive)
        except ManifestProblem as problem:
            # Nothing of a consult whose manifest cannot be trusted is purged: the retention
            # classes come from that manifest.
            survey.unreadable.append((consult.id, str(problem)))
            continue
        root = archive_root_key(archive)
        try:
            artefacts = [SealedArtefact(consult.id, key_join(root, entry.path), entry)
                         for entry in entries]
        except InvalidKey as problem:
            survey.unreadable.append((consult.id, f"the manifest lists an unsafe path: "
                                                  f"{problem}"))
            continue
        for artefact in artefacts:
            exists = await loop.run_in_executor(None, storage.exists, artefact.storage_key)
            (survey.present if exists else survey.absent).append(artefact)
    return survey


# -- the purge ------------------------------------------------------------------------------


def plan_purge(survey: Survey, now: datetime, policy: RetentionPolicy, *, dry_run: bool,
               clock_override: bool = False) -> PurgeReport:
    """Pure: sort every stored artefact into purge, held (expired but held) and kept."""
    report = PurgeReport(now, dry_run, clock_override, policy, absent=list(survey.absent),
                         unreadable=list(survey.unreadable))
    for artefact in survey.present:
        item = judge(artefact, survey.facts[artefact.consult_id], now, policy)
        if item.decision.purgeable:
            report.purged.append(item)
        elif item.decision.reason == "legal_hold" and item.decision.expires_at <= now:
            report.held.append(item)
        else:
            report.kept.append(item)
    return report


async def run_purge(db: Database, storage: LocalDirectoryStorage, *, actor: Actor,
                    now: datetime, policy: RetentionPolicy, dry_run: bool,
                    clock_override: bool = False) -> PurgeReport:
    """Plan, and unless `dry_run`, purge. A dry run writes nothing at all."""
    survey = await survey_archives(db, storage)
    report = plan_purge(survey, now, policy, dry_run=dry_run, clock_override=clock_override)
    if dry_run:
        return report
    planned, report.purged = report.purged, []
    by_consult: dict[str, list[PurgeItem]] = defaultdict(list)
    for item in planned:
        by_consult[item.artefact.consult_id].append(item)
    loop = asyncio.get_running_loop()
    for consult_id, items in by_consult.items():
        async with db.transaction() as session:
            await load_consult(session, consult_id, for_update=True)
            if await held_consults(session, [consult_id]):
                # A hold placed since the survey wins: its entry is before ours in the chain.
                report.held.extend(items)
                continue
            for item in items:
                await audit_log.append(session, actor, PURGED, consult_id=consult_id,
                                       at=None if clock_override else now,
                                       details=purge_details(item, now, policy, clock_override))
        for item in items:
            try:
                await loop.run_in_executor(None, partial(
                    storage.delete, item.artefact.storage_key, bypass_governance=True))
            except (OSError, StorageError) as error:
                log.error("purge failed", extra={"consult_id": consult_id,
                                                 "key": item.artefact.storage_key,
                                                 "error": repr(error)})
                report.failed.append((item, repr(error)))
                async with db.transaction() as session:
                    await audit_log.append(session, actor, "retention.purge_failed",
                                           consult_id=consult_id,
                                           details={"path": item.artefact.entry.path,
                                                    "error": repr(error)})
                continue
            report.purged.append(item)
            log.info("artefact purged", extra={"consult_id": consult_id,
                                               "key": item.artefact.storage_key})
    async with db.transaction() as session:
        # The run itself is evidence too: "a purge ran and found nothing" is not silence.
        await audit_log.append(session, actor, "retention.purge_run",
                               at=None if clock_override else now, details={
                                   "evaluated_at": now, "clock_override": clock_override,
                                   "purged": len(report.purged), "held": len(report.held),
                                   "failed": len(report.failed), "kept": len(report.kept),
                                   "unreadable": [c for c, _ in report.unreadable]})
    return report


def purge_details(item: PurgeItem, now: datetime, policy: RetentionPolicy,
                  clock_override: bool) -> dict[str, Any]:
    """What, why and until when: enough to re-check the rule without this server."""
    entry = item.artefact.entry
    return {"path": entry.path, "storage_key": item.artefact.storage_key,
            "retention_class": entry.retention_class.value, "sha256": entry.sha256,
            # ISO text kept in the hospital's zone (the audit encoder would turn a datetime
            # into UTC): the expiry reads as the calendar day the law counts in.
            "size": entry.size, "counted_from": item.anchor.isoformat(),
            "expires_at": item.decision.expires_at.isoformat(),
            "reason": item.decision.reason, "evaluated_at": now.isoformat(),
            "clock_override": clock_override,
            "policy": {"process_record_years": policy.process_record_years,
                       "medical_record_years": policy.medical_record_years}}


# -- years later: was an absent artefact purged lawfully? ------------------------------------


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


def purge_records(entries: Iterable[AuditEntry]) -> dict[str, PurgeRecord]:
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
