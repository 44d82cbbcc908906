"""Retention purge: delete sealed artefacts whose retention has ended and that no legal hold
keeps, with the evidence of each deletion committed before the file goes.

The rule itself is `recorder.retention` (pure, floored at the legal minimums). The purge
applies it to what the sealed archives hold:

* what: every artefact listed in a consult's sealed manifest, with its retention class from
  the manifest — never from a file name, and only from a manifest whose hash still equals the
  sealed one (a relabelled manifest could otherwise make a medical record look like a 3-year
  process record);
* process records count from the end of their consult;
* medical records count from the child's LAST visit (`ConsultFacts.child_last_visit_at`), so
  a later visit extends the whole record.

Order of a deletion: the ledger commits the `retention.purged` entries first (and refuses if a
legal hold was placed since the survey), then the files are deleted. A crash in between leaves
an entry and a file that is still there and still verifies — never a file gone without its
evidence. Where the facts come from and where the evidence goes (the database, the audit
chain) is the caller's: `SealedConsult` and `PurgeLedger` are the ports.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from recorder.archive_manifest import ManifestEntry, ManifestProblem
from recorder.archive_seal import SealRecord, archive_root_key, read_sealed_manifest
from recorder.retention import (
    PurgeDecision,
    RetainedArtefact,
    RetentionPolicy,
    purge_decision,
    retention_anchor,
)
from recorder.storage import ArtefactStorage, InvalidKey, StorageError, key_join

log = logging.getLogger("shouzhen.retention")
PURGED = "retention.purged"
PURGE_FAILED = "retention.purge_failed"
PURGE_RUN = "retention.purge_run"


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


# -- surveying the sealed archives ----------------------------------------------------------


@dataclass(frozen=True)
class SealedConsult:
    """A sealed consult as the caller knows it: the rule's facts and where its seal lies."""

    facts: ConsultFacts
    seal: SealRecord


@dataclass
class Survey:
    facts: dict[str, ConsultFacts] = field(default_factory=dict)
    present: list[SealedArtefact] = field(default_factory=list)
    absent: list[SealedArtefact] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


async def survey_archives(sealed: Iterable[SealedConsult], storage: ArtefactStorage) -> Survey:
    """Every sealed consult's artefacts and whether each is still stored. Reads manifests,
    never file contents."""
    survey = Survey()
    loop = asyncio.get_running_loop()
    for consult in sealed:
        consult_id = consult.facts.consult_id
        survey.facts[consult_id] = consult.facts
        try:
            entries = await read_sealed_manifest(storage, consult.seal)
        except ManifestProblem as problem:
            # Nothing of a consult whose manifest cannot be trusted is purged: the retention
            # classes come from that manifest.
            survey.unreadable.append((consult_id, str(problem)))
            continue
        root = archive_root_key(consult.seal)
        try:
            artefacts = [SealedArtefact(consult_id, key_join(root, entry.path), entry)
                         for entry in entries]
        except InvalidKey as problem:
            survey.unreadable.append((consult_id, f"the manifest lists an unsafe path: "
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


class PurgeLedger(Protocol):
    """Where the purge's evidence goes (the server's audit chain). `at` is None when the
    rule ran with a clock override: the entry then carries the real time of writing."""

    async def record_purges(self, consult_id: str, purges: list[dict[str, Any]],
                            at: datetime | None) -> bool:
        """Commit one `retention.purged` entry per artefact of the consult, atomically and
        under the consult's lock, unless a legal hold now keeps it: then write nothing and
        answer False."""
        ...

    async def record_failure(self, consult_id: str, details: dict[str, Any]) -> None:
        """A `retention.purge_failed` entry: the evidence is written, the file stayed."""

    async def record_run(self, details: dict[str, Any], at: datetime | None) -> None:
        """The `retention.purge_run` summary."""


async def purge_expired(sealed: Iterable[SealedConsult], storage: ArtefactStorage,
                        ledger: PurgeLedger, *, now: datetime, policy: RetentionPolicy,
                        dry_run: bool, clock_override: bool = False) -> PurgeReport:
    """Plan, and unless `dry_run`, purge. A dry run writes nothing at all."""
    survey = await survey_archives(sealed, storage)
    report = plan_purge(survey, now, policy, dry_run=dry_run, clock_override=clock_override)
    if dry_run:
        return report
    at = None if clock_override else now
    planned, report.purged = report.purged, []
    by_consult: dict[str, list[PurgeItem]] = defaultdict(list)
    for item in planned:
        by_consult[item.artefact.consult_id].append(item)
    loop = asyncio.get_running_loop()
    for consult_id, items in by_consult.items():
        recorded = await ledger.record_purges(
            consult_id, [purge_details(item, now, policy, clock_override) for item in items],
            at)
        if not recorded:
            # A hold placed since the survey wins: its entry is before ours in the chain.
            report.held.extend(items)
            continue
        for item in items:
            try:
                await loop.run_in_executor(None, partial(
                    storage.delete, item.artefact.storage_key, bypass_governance=True))
            except (OSError, StorageError) as error:
                log.error("purge failed", extra={"consult_id": consult_id,
                                                 "key": item.artefact.storage_key,
                                                 "error": repr(error)})
                report.failed.append((item, repr(error)))
                await ledger.record_failure(consult_id, {"path": item.artefact.entry.path,
                                                         "error": repr(error)})
                continue
            report.purged.append(item)
            log.info("artefact purged", extra={"consult_id": consult_id,
                                               "key": item.artefact.storage_key})
    # The run itself is evidence too: "a purge ran and found nothing" is not silence.
    await ledger.record_run({
        "evaluated_at": now, "clock_override": clock_override,
        "purged": len(report.purged), "held": len(report.held),
        "failed": len(report.failed), "kept": len(report.kept),
        "unreadable": [c for c, _ in report.unreadable]}, at)
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
