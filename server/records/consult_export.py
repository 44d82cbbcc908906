"""A sealed consult as evidence: verifying it, and exporting it for a regulator — the
database and audit-chain side of recorder.archive_verification and recorder.archive_export.

**Verification** answers "was anything altered since sealing?" from three independent
witnesses, and names every artefact that disagrees:

1. the audit chain is intact (`audit_log.verify_chain`), so its `archive.sealed` entry is
   the one written when the consult was sealed;
2. the manifest on disk hashes to the value in that entry (and in the `archives` row);
3. every artefact hashes to what the manifest lists, nothing listed is missing and nothing
   unlisted lies in the archive, and whatever is gone a lawful purge accounts for
   (`recorder.archive_verification`).

**Export** streams one tar file (`recorder.archive_export`). Nothing is buffered whole: the
tar writer in a worker thread feeds the HTTP response through a small bounded pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp import web

from recorder.archive_export import ExportPlan, present_and_absent
from recorder.archive_manifest import (
    MANIFEST_NAME,
    ManifestProblem,
    UnsafeArtefactPath,
    parse_manifest,
)
from recorder.archive_seal import archive_root_key
from recorder.archive_verification import (
    ArtefactCheck,
    ArtefactStatus,
    RetentionEvidence,
    verify_archive_files,
)
from recorder.purge_evidence import PurgeRecord, purge_records
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

    def retention(self) -> RetentionEvidence:
        return RetentionEvidence(self.purges, self.consult.ended_at or self.archive.sealed_at,
                                 self.child_visits, self.holds)


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
    files = await asyncio.get_running_loop().run_in_executor(None, partial(
        verify_archive_files, root, sealed_sha or archive.manifest_sha256,
        evidence.retention(), time_zone))
    result.manifest.update(files.manifest)
    result.artefacts = files.artefacts
    result.problems.extend(files.problems)
    result.warnings.extend(files.warnings)
    return result


# -- export ---------------------------------------------------------------------------------


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
    try:
        present, absent = present_and_absent(root, entries, evidence.purges)
    except UnsafeArtefactPath as error:
        raise ConsultNotSealed(f"the manifest of consult {consult_id} lists an unsafe "
                               f"path {str(error)!r}; verify the consult") from None
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
