"""Verifying a sealed archive years later: every artefact against the sealed manifest, the
manifest against the hash its seal recorded, and each artefact that is gone either accounted
for by a lawful purge or reported missing.

An artefact that is gone is "purged (retention)" only if a `retention.purged` entry accounts
for it AND the retention rule, recomputed from the consult's own facts, agrees it had expired
with no legal hold open (`purge_evidence.judge_purge_record`); otherwise it is "missing",
which fails verification like a changed file. Whether the audit chain itself is intact, and
which hash it holds for the seal, is the caller's to establish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from recorder.archive_manifest import (
    MANIFEST_NAME,
    ManifestEntry,
    ManifestMalformed,
    ManifestMissing,
    UnsafeArtefactPath,
    parse_manifest,
    verify_manifest,
)
from recorder.durable_files import sha256_file
from recorder.purge_evidence import PurgeRecord, judge_purge_record
from recorder.retention import HoldPeriod

ArtefactStatus = Literal["verified", "changed", "missing", "purged", "unexpected"]


@dataclass(frozen=True)
class ArtefactCheck:
    path: str
    status: ArtefactStatus
    retention_class: str | None = None
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    expected_size: int | None = None
    actual_size: int | None = None
    detail: str | None = None
    purge: dict[str, Any] | None = None


@dataclass(frozen=True)
class RetentionEvidence:
    """What tells a lawful purge from a missing file, as the audit chain and the database
    hold it: the consult's purge entries by path, its end, the child's visits, its holds."""

    purges: dict[str, PurgeRecord]
    ended_at: datetime  # the consult's end (its sealing, if it never took place)
    child_visits: list[datetime]  # ends of every consult of the same child
    holds: list[HoldPeriod]


@dataclass
class ArchiveFilesVerdict:
    """What the files say: the manifest's own check, one status per artefact, and the
    problems and warnings that follow."""

    manifest: dict[str, Any] = field(default_factory=dict)
    artefacts: list[ArtefactCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def judge_artefacts(listed: list[ManifestEntry], verified: tuple[str, ...],
                    changed: list[ArtefactCheck], missing: tuple[str, ...],
                    unexpected: tuple[str, ...], evidence: RetentionEvidence,
                    time_zone: ZoneInfo) -> tuple[list[ArtefactCheck], list[str], list[str]]:
    """Pure: one status per artefact, and the problems and warnings that follow."""
    by_path = {entry.path: entry for entry in listed}
    checks: list[ArtefactCheck] = []
    problems: list[str] = []
    warnings: list[str] = []
    for path in verified:
        entry = by_path[path]
        checks.append(ArtefactCheck(path, "verified", entry.retention_class.value, entry.sha256,
                                    entry.sha256, entry.size, entry.size))
    for check in changed:
        checks.append(check)
        problems.append(f"{check.path}: changed since sealing ({check.detail})")
    for path in missing:
        entry = by_path[path]
        record = evidence.purges.get(path)
        if record is None:
            checks.append(ArtefactCheck(path, "missing", entry.retention_class.value,
                                        entry.sha256, None, entry.size, None,
                                        "no purge record accounts for it"))
            problems.append(f"{path}: missing, and no retention purge accounts for it")
            continue
        verdict = judge_purge_record(record, entry, evidence.ended_at, evidence.child_visits,
                                     evidence.holds, time_zone)
        if verdict.lawful:
            checks.append(ArtefactCheck(path, "purged", entry.retention_class.value,
                                        entry.sha256, None, entry.size, None,
                                        "purged (retention)", record.to_dict()))
            warnings.extend(f"{path}: {warning}" for warning in verdict.warnings)
        else:
            checks.append(ArtefactCheck(path, "missing", entry.retention_class.value,
                                        entry.sha256, None, entry.size, None,
                                        "; ".join(verdict.problems), record.to_dict()))
            problems.extend(f"{path}: missing; its purge record does not hold: {p}"
                            for p in verdict.problems)
    for path in unexpected:
        checks.append(ArtefactCheck(path, "unexpected", detail="not in the sealed manifest"))
        problems.append(f"{path}: unexpected file, not in the sealed manifest")
    checks.sort(key=lambda c: c.path)
    return checks, problems, warnings


def verify_archive_files(root: Path, sealed_sha256: str, evidence: RetentionEvidence,
                         time_zone: ZoneInfo) -> ArchiveFilesVerdict:
    """Recompute every hash of the archive at `root` against the manifest sealed with
    `sealed_sha256`; blocking (run it in an executor). Nothing outside the root is read."""
    result = ArchiveFilesVerdict()
    try:
        files = verify_manifest(root, sealed_sha256)
    except ManifestMissing:
        result.manifest.update(sha256=None, matches_seal=False)
        result.problems.append(f"{MANIFEST_NAME}: missing")
        return result
    except ManifestMalformed as error:
        result.manifest.update(sha256=_sha256_or_none(root / MANIFEST_NAME),
                               matches_seal=False)
        result.problems.append(f"{MANIFEST_NAME}: changed since sealing and no longer a "
                               f"manifest ({error})")
        return result
    except UnsafeArtefactPath as error:
        # Nothing outside the archive is read: the manifest is refused before any I/O.
        result.manifest.update(sha256=_sha256_or_none(root / MANIFEST_NAME),
                               matches_seal=False)
        result.problems.append(f"{MANIFEST_NAME}: lists a path outside the archive ({error})")
        return result
    result.manifest.update(sha256=files.manifest_sha256,
                           matches_seal=files.manifest_sha256 == sealed_sha256,
                           canonical=files.manifest_canonical)
    if files.manifest_sha256 != sealed_sha256:
        result.problems.append(f"{MANIFEST_NAME}: changed since sealing (its hash is "
                               f"{files.manifest_sha256}, the sealed hash is {sealed_sha256})")
    elif not files.manifest_canonical:
        result.problems.append(f"{MANIFEST_NAME}: not in canonical form")
    listed = parse_manifest((root / MANIFEST_NAME).read_bytes())
    by_path = {entry.path: entry for entry in listed}
    changed = [ArtefactCheck(c.path, "changed", by_path[c.path].retention_class.value,
                             c.expected_sha256, c.actual_sha256, c.expected_size, c.actual_size,
                             f"sha256 {c.actual_sha256} size {c.actual_size}, sealed "
                             f"sha256 {c.expected_sha256} size {c.expected_size}"
                             if c.reason == "content" else "replaced by something that is "
                             "not a regular file")
               for c in files.changed]
    checks, problems, warnings = judge_artefacts(
        listed, files.verified, changed, files.missing, files.unexpected, evidence, time_zone)
    result.artefacts = checks
    result.problems.extend(problems)
    result.warnings.extend(warnings)
    return result


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path).sha256
    except OSError:
        return None
