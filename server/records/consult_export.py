"""A sealed consult as evidence: verifying it, and exporting it for a regulator.

**Verification** answers "was anything altered since sealing?" from three independent
witnesses, and names every artefact that disagrees:

1. the audit chain is intact (`audit_log.verify_chain`), so its `archive.sealed` entry is
   the one written when the consult was sealed;
2. the manifest on disk hashes to the value in that entry (and in the `archives` row);
3. every artefact hashes to what the manifest lists, nothing listed is missing and nothing
   unlisted lies in the archive (`recorder.archive_manifest.verify_manifest`).

An artefact that is gone is "purged (retention)" only if a `retention.purged` entry of the
intact chain accounts for it AND the retention rule, recomputed from the consult's own facts,
agrees it had expired with no legal hold open (`recorder.purge_evidence`);
otherwise it is "missing", which fails verification like a changed file.

**Export** streams one tar file: a README, the sealed audit entry, the manifest exactly as
sealed, a `SHA256SUMS` that `sha256sum -c` checks (the manifest against the audit chain's
hash, every artefact against the manifest), the artefacts, and last `verification.json` with
the hashes measured while the archive was being written. Nothing is buffered whole: a tar
writer in a worker thread feeds the HTTP response through a small bounded pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import queue
import stat
import tarfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp import web

from recorder.archive_manifest import (
    MANIFEST_NAME,
    ManifestEntry,
    ManifestMalformed,
    ManifestMissing,
    ManifestProblem,
    UnsafeArtefactPath,
    parse_manifest,
    resolve_artefact,
    verify_manifest,
)
from recorder.archive_seal import archive_root_key
from recorder.purge_evidence import PurgeRecord, judge_purge_record, purge_records
from recorder.retention import HoldPeriod
from recorder.storage import LocalDirectoryStorage
from server.clinical.consults import load_consult
from server.kernel import audit_log
from server.kernel.audit_log import AuditEntry, ChainVerdict
from server.kernel.db import Database
from server.kernel.errors import Conflict
from server.kernel.models import ArchiveRow, ConsultRow
from server.records.legal_holds import hold_periods

log = logging.getLogger("shouzhen.export")
SEALED = "archive.sealed"
ArtefactStatus = Literal["verified", "changed", "missing", "purged", "unexpected"]


class ConsultNotSealed(Conflict):
    code = "consult_not_sealed"
    title = "The consult has no sealed archive"


# -- what an auditor needs to know about a sealed consult ----------------------------------


@dataclass(frozen=True)
class SealEvidence:
    """The consult's sealed archive as the database and the audit chain describe it."""

    consult: ConsultRow
    archive: ArchiveRow
    entries: list[AuditEntry]  # the consult's slice of the audit log, in chain order
    sealed_entry: AuditEntry | None
    child_visits: list[datetime]  # ends of every consult of the same child
    holds: list[HoldPeriod]

    @property
    def sealed_sha256(self) -> str | None:
        if self.sealed_entry is None:
            return None
        value = self.sealed_entry.details_dict().get("manifest_sha256")
        return str(value) if value else None

    @property
    def purges(self) -> dict[str, PurgeRecord]:
        return purge_records(self.entries)


async def load_seal_evidence(db: Database, consult_id: str) -> SealEvidence:
    async with db.reading() as session:
        consult = await load_consult(session, consult_id)
        archive = await session.get(ArchiveRow, consult_id)
        if archive is None:
            raise ConsultNotSealed(f"consult {consult_id} is {consult.state}: it has no sealed "
                                   "archive to verify or export yet")
        entries = [entry async for entry in audit_log.iter_entries(session,
                                                                   consult_id=consult_id)]
        visits = (await session.scalars(sa.select(ConsultRow.ended_at).where(
            ConsultRow.child_id == consult.child_id, ConsultRow.ended_at.is_not(None)))).all()
        holds = await hold_periods(session, consult_id)
    sealed = next((e for e in reversed(entries) if e.action == SEALED), None)
    return SealEvidence(consult, archive, entries, sealed,
                        [v for v in visits if v is not None], holds)


# -- verification ---------------------------------------------------------------------------


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


@dataclass
class ArchiveVerification:
    consult_id: str
    checked_at: datetime
    manifest: dict[str, Any]
    chain: dict[str, Any]
    artefacts: list[ArtefactCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, status: ArtefactStatus) -> int:
        return sum(1 for a in self.artefacts if a.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {"consult_id": self.consult_id, "ok": self.ok,
                "checked_at": self.checked_at.isoformat(), "manifest": self.manifest,
                "chain": self.chain, "problems": self.problems, "warnings": self.warnings,
                "counts": {s: self.count(s) for s in ("verified", "changed", "missing",
                                                       "purged", "unexpected")},
                "artefacts": [asdict(a) for a in self.artefacts]}

    def audit_details(self) -> dict[str, Any]:
        """What the `archive.verified` entry keeps: the verdict and who disagreed."""
        return {"ok": self.ok, "manifest_sha256": self.manifest.get("sha256"),
                "chain_ok": self.chain.get("ok"), "problems": self.problems[:50],
                "warnings": self.warnings[:50],
                "counts": self.to_dict()["counts"]}


def judge_artefacts(evidence: SealEvidence, listed: list[ManifestEntry], verified: tuple[str, ...],
                    changed: list[ArtefactCheck], missing: tuple[str, ...],
                    unexpected: tuple[str, ...], time_zone: ZoneInfo
                    ) -> tuple[list[ArtefactCheck], list[str], list[str]]:
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
    purges = evidence.purges
    ended_at = evidence.consult.ended_at or evidence.archive.sealed_at
    for path in missing:
        entry = by_path[path]
        record = purges.get(path)
        if record is None:
            checks.append(ArtefactCheck(path, "missing", entry.retention_class.value,
                                        entry.sha256, None, entry.size, None,
                                        "no purge record accounts for it"))
            problems.append(f"{path}: missing, and no retention purge accounts for it")
            continue
        verdict = judge_purge_record(record, entry, ended_at, evidence.child_visits,
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


async def verify_consult_archive(db: Database, storage: LocalDirectoryStorage, consult_id: str,
                                 *, now: datetime, time_zone: ZoneInfo) -> ArchiveVerification:
    """Recompute everything (blocking hashing in a worker thread); raises ConsultNotSealed."""
    evidence = await load_seal_evidence(db, consult_id)
    async with db.reading() as session:
        chain: ChainVerdict = await audit_log.verify_chain(session)
    archive = evidence.archive
    sealed_sha = evidence.sealed_sha256
    result = ArchiveVerification(consult_id, now, manifest={
        "path": MANIFEST_NAME, "sealed_sha256": sealed_sha,
        "archive_row_sha256": archive.manifest_sha256,
        "sealed_entry_seq": evidence.sealed_entry.seq if evidence.sealed_entry else None,
        "sealed_at": archive.sealed_at.isoformat()}, chain=chain.to_dict())
    if not chain.ok:
        result.problems.append(f"audit chain broken at entry {chain.first_broken_seq}: "
                               f"{chain.problem}")
    if sealed_sha is None:
        result.problems.append("the audit log has no archive.sealed entry for this consult")
    elif sealed_sha != archive.manifest_sha256:
        result.problems.append(f"the archives table says the manifest hash is "
                               f"{archive.manifest_sha256}, the audit chain says {sealed_sha}")
    root = storage.path_for(archive_root_key(archive))
    expected = sealed_sha or archive.manifest_sha256
    loop = asyncio.get_running_loop()
    try:
        files = await loop.run_in_executor(None, verify_manifest, root, expected)
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
                           matches_seal=files.manifest_sha256 == expected,
                           canonical=files.manifest_canonical)
    if files.manifest_sha256 != expected:
        result.problems.append(f"{MANIFEST_NAME}: changed since sealing (its hash is "
                               f"{files.manifest_sha256}, the sealed hash is {expected})")
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
        evidence, listed, files.verified, changed, files.missing, files.unexpected, time_zone)
    result.artefacts = checks
    result.problems.extend(problems)
    result.warnings.extend(warnings)
    return result


def _sha256_or_none(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# -- export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportPlan:
    consult_id: str
    root: Path
    manifest_raw: bytes
    entries: list[ManifestEntry]
    present: list[ManifestEntry]
    absent: list[tuple[ManifestEntry, PurgeRecord | None]]
    seal: dict[str, Any]
    chain: dict[str, Any]
    sealed_at: datetime

    @property
    def directory(self) -> str:
        return f"shouzhen-consult-{self.consult_id}"

    @property
    def file_name(self) -> str:
        return f"{self.directory}.tar"


async def plan_export(db: Database, storage: LocalDirectoryStorage,
                      consult_id: str) -> ExportPlan:
    """What goes into the export; ConsultNotSealed (409) before anything is sent."""
    evidence = await load_seal_evidence(db, consult_id)
    async with db.reading() as session:
        chain = await audit_log.verify_chain(session)
    root = storage.path_for(archive_root_key(evidence.archive))
    try:
        raw = (root / MANIFEST_NAME).read_bytes()
        entries = parse_manifest(raw)
    except (OSError, ManifestProblem) as error:
        raise ConsultNotSealed(f"the sealed manifest of consult {consult_id} cannot be read "
                               f"({error}); verify the consult") from None
    purges = evidence.purges
    present, absent = [], []
    for entry in entries:
        try:
            path = resolve_artefact(root, entry.path)  # refuses `..`, absolute paths, links
            exists = stat.S_ISREG(path.lstat().st_mode)
        except UnsafeArtefactPath:
            raise ConsultNotSealed(f"the manifest of consult {consult_id} lists an unsafe "
                                   f"path {entry.path!r}; verify the consult") from None
        except FileNotFoundError:
            exists = False
        if exists:
            present.append(entry)
        else:
            absent.append((entry, purges.get(entry.path)))
    sealed = evidence.sealed_entry
    seal = {"consult_id": consult_id,
            "archive": {"manifest_key": evidence.archive.manifest_key,
                        "manifest_sha256": evidence.archive.manifest_sha256,
                        "artefacts": evidence.archive.artefacts,
                        "sealed_at": evidence.archive.sealed_at.isoformat()},
            "sealed_audit_entry": asdict(sealed) if sealed else None,
            "manifest_sha256_on_disk": hashlib.sha256(raw).hexdigest()}
    return ExportPlan(consult_id, root, raw, entries, present, absent, seal, chain.to_dict(),
                      evidence.archive.sealed_at)


def readme(plan: ExportPlan) -> str:
    sealed = plan.seal.get("sealed_audit_entry") or {}
    sealed_sha = json.loads(sealed["details"]).get("manifest_sha256") if sealed else None
    lines = [
        f"shouzhen 首诊 — archived consult {plan.consult_id}",
        "",
        "本文件为一次互联网首诊的封存档案导出，供监管审查。",
        "This is the sealed archive of one first-visit consult, exported for a regulator.",
        "",
        "Contents / 内容",
        "  archive-manifest.json  the manifest exactly as sealed: SHA-256, size and retention",
        "                         class of every artefact (封存清单)",
        "  seal.json              the audit-chain entry that sealed it (seq, hash, prev_hash)",
        "                         and the chain verdict at export time (审计链封存记录)",
        "  SHA256SUMS             check with:  sha256sum -c SHA256SUMS",
        "  record/ recordings/ photos/   the artefacts (病历、录音录像、照片)",
        "  verification.json      hashes the server measured while writing this file",
        "",
        "How to verify / 如何核验",
        "  1. sha256sum archive-manifest.json must equal the manifest_sha256 of the",
        f"     archive.sealed entry in seal.json: {sealed_sha}",
        f"     (audit entry seq {sealed.get('seq')}, hash {sealed.get('hash')}).",
        "  2. sha256sum -c SHA256SUMS checks every artefact against the manifest.",
        "  3. The audit entry's hash can be checked against the hospital's audit chain",
        "     (shouzhen audit verify).",
        "",
        f"Sealed at / 封存时间: {plan.sealed_at.isoformat()}",
        f"Artefacts in the manifest / 清单文件数: {len(plan.entries)}; "
        f"in this export / 本次导出: {len(plan.present)}",
    ]
    if plan.absent:
        lines += ["", "Not in this export / 未包含的文件"]
        for entry, record in plan.absent:
            if record is not None:
                lines.append(f"  {entry.path}: purged under the retention rule (已按保存期限"
                             f"清除) at {record.at.isoformat()}, audit entry seq {record.seq}; "
                             f"retention ended {record.expires_at.isoformat()}")
            else:
                lines.append(f"  {entry.path}: MISSING — no purge record accounts for it "
                             "(缺失，且无清除记录)")
    return "\n".join(lines) + "\n"


def sha256sums(plan: ExportPlan) -> str:
    """`sha256sum -c` format: the manifest against the audit chain, artefacts against it."""
    sealed = plan.seal.get("sealed_audit_entry")
    sealed_sha = json.loads(sealed["details"]).get("manifest_sha256") if sealed else None
    lines = [f"{sealed_sha or plan.seal['archive']['manifest_sha256']}  {MANIFEST_NAME}"]
    lines += [f"{entry.sha256}  {entry.path}" for entry in plan.present]
    return "\n".join(lines) + "\n"


class _HashingReader(io.RawIOBase):
    """Reads a file for the tar writer, hashing exactly what went into the archive."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunk = self.handle.read(n)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


def write_export(sink: BinaryIO, plan: ExportPlan) -> None:
    """The whole tar, written to `sink`; blocking (runs in a worker thread)."""
    mtime = int(plan.sealed_at.timestamp())

    def member(name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{plan.directory}/{name}")
        info.size, info.mtime, info.mode = size, mtime, 0o444
        return info

    def add_bytes(name: str, data: bytes) -> None:
        tar.addfile(member(name, len(data)), io.BytesIO(data))

    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        add_bytes("README.txt", readme(plan).encode())
        add_bytes("seal.json", _json({**plan.seal, "chain_at_export": plan.chain}))
        add_bytes(MANIFEST_NAME, plan.manifest_raw)
        add_bytes("SHA256SUMS", sha256sums(plan).encode())
        measured = []
        for entry in plan.present:
            path = resolve_artefact(plan.root, entry.path)
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                reader = _HashingReader(handle)
                tar.addfile(member(entry.path, size), reader)
            sha = reader.digest.hexdigest()
            measured.append({"path": entry.path, "sha256": sha, "size": reader.size,
                             "matches_manifest": sha == entry.sha256
                             and reader.size == entry.size})
        manifest_sha = hashlib.sha256(plan.manifest_raw).hexdigest()
        sealed_sha = plan.seal["archive"]["manifest_sha256"]
        add_bytes("verification.json", _json({
            "manifest_sha256": manifest_sha, "manifest_matches_seal": manifest_sha == sealed_sha,
            "artefacts": measured,
            "all_artefacts_match": all(m["matches_manifest"] for m in measured),
            "absent": [{"path": e.path, "purge": r.to_dict() if r else None}
                       for e, r in plan.absent]}))


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True,
                      default=str).encode() + b"\n"


class _Pipe(io.RawIOBase):
    """A bounded byte pipe from a writer thread to the event loop, coalescing small writes
    so the loop wakes once per chunk rather than once per tar block."""

    CHUNK = 256 * 1024

    def __init__(self, depth: int = 8) -> None:
        self.chunks: queue.Queue[bytes | None] = queue.Queue(depth)
        self.buffer = bytearray()
        self.cancelled = threading.Event()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        if len(self.buffer) >= self.CHUNK:
            self._put(bytes(self.buffer))
            self.buffer.clear()
        return len(data)

    def _put(self, item: bytes | None) -> None:
        while True:
            if self.cancelled.is_set():
                raise BrokenPipeError("the download was abandoned")
            try:
                self.chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        if self.buffer:
            self._put(bytes(self.buffer))
            self.buffer.clear()
        self._put(None)


async def stream_blocking_writer(response: web.StreamResponse,
                                 produce: Callable[[BinaryIO], None]) -> None:
    """Run `produce(sink)` in a worker thread and send what it writes as it comes."""
    pipe = _Pipe()
    loop = asyncio.get_running_loop()

    def run() -> None:
        try:
            produce(pipe)  # type: ignore[arg-type]
            pipe.finish()
        except BaseException:
            if not pipe.cancelled.is_set():
                pipe.cancelled.set()
                pipe.chunks.put(None)  # wake the reader; the error surfaces below
            raise

    producer = loop.run_in_executor(None, run)
    try:
        while (chunk := await loop.run_in_executor(None, pipe.chunks.get)) is not None:
            await response.write(chunk)
    finally:
        pipe.cancelled.set()
        with contextlib.suppress(BrokenPipeError):  # we stopped it: the client went away
            await producer
