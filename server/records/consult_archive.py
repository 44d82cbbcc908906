"""Sealing a consult's archive when it ends, and recovering recordings after a crash.

Sealing writes the record documents (consult, intake, outcome and referral, chat, the
consult's slice of the audit log), then fingerprints them with every recording segment and
photo into one manifest (recorder/archive_manifest.py). The manifest's hash goes into the
audit chain in the same transaction that moves the consult to `archived`, so a file changed
afterwards fails verification and a manifest swapped for another fails the chain.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from recorder.archive_manifest import ArtefactSpec, seal_archive
from recorder.crash_recovery import RecoveredSegment, recover_unfinished
from recorder.retention import RetentionClass
from recorder.storage import LocalDirectoryStorage, consult_prefix, key_join
from server.clinical.chat import ChatLog
from server.clinical.consult_lifecycle import ConsultState, ConsultTrigger
from server.clinical.consults import ConsultService, apply_transition, consult_view, load_consult
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.db import Database
from server.kernel.models import ArchiveRow, PhotoRow, RecordingSegmentRow

log = logging.getLogger("shouzhen.archive")
ARCHIVIST = Actor.system("archive")
PROCESS, MEDICAL = RetentionClass.PROCESS_RECORD, RetentionClass.MEDICAL_RECORD
MEDIA_TYPES = {"webm": "video/webm", "mkv": "video/x-matroska", "jpg": "image/jpeg",
               "png": "image/png", "webp": "image/webp", "json": "application/json"}


def recordings_key(consult_id: str) -> str:
    return key_join(consult_prefix(consult_id), "recordings")


@dataclass
class ConsultArchivist:
    db: Database
    storage: LocalDirectoryStorage
    consults: ConsultService
    chat: ChatLog

    def recordings_directory(self, consult_id: str) -> Path:
        return self.storage.path_for(recordings_key(consult_id))

    async def seal(self, consult_id: str) -> ArchiveRow:
        record = await self.consults.record(consult_id)
        if ConsultState(record.consult.state) not in (ConsultState.ENDED,
                                                      ConsultState.CANCELLED,
                                                      ConsultState.NO_SHOW):
            raise ValueError(f"consult {consult_id} is {record.consult.state}: not sealable")
        async with self.db.reading() as session:
            photos = (await session.scalars(sa.select(PhotoRow).where(
                PhotoRow.consult_id == consult_id))).all()
            audit_slice = [entry.__dict__ async for entry in audit_log.iter_entries(
                session, consult_id=consult_id)]
        prefix = consult_prefix(consult_id)
        documents: dict[str, tuple[object, RetentionClass]] = {
            "record/consult.json": (consult_view(record, for_staff=True), MEDICAL),
            "record/chat.json": (await self.chat.transcript(consult_id), PROCESS),
            "record/audit.json": (audit_slice, MEDICAL),
        }
        if record.intake is not None:
            documents["record/intake.json"] = (record.intake.data, MEDICAL)
        loop = asyncio.get_running_loop()
        for path, (content, _) in documents.items():
            body = json.dumps(content, ensure_ascii=False, sort_keys=True, indent=1,
                              default=str).encode()
            await loop.run_in_executor(None, self.storage.put, key_join(prefix, path), body)
        artefacts = [ArtefactSpec(path, retention, MEDIA_TYPES["json"])
                     for path, (_, retention) in documents.items()]
        # Every file of the recordings folder is sealed, not only the listed segments: after a
        # crash the untouched original, its recovery report and the retired marker are
        # evidence of what happened and must verify like the repaired copy.
        recordings = self.recordings_directory(consult_id)
        if recordings.is_dir():
            for file in sorted(recordings.iterdir()):
                if file.is_file() and not file.is_symlink() and not file.name.startswith("."):
                    relative = file.relative_to(self.storage.path_for(prefix)).as_posix()
                    artefacts.append(ArtefactSpec(relative, PROCESS, MEDIA_TYPES.get(
                        file.suffix.lstrip("."), "application/octet-stream")))
        for photo in photos:
            for key in (photo.storage_key, photo.thumbnail_key):
                relative = key.removeprefix(prefix + "/")
                artefacts.append(ArtefactSpec(relative, MEDICAL,
                                              MEDIA_TYPES[relative.rsplit(".", 1)[-1]]))
        sealed = await loop.run_in_executor(None, partial(
            seal_archive, self.storage.path_for(prefix), artefacts, consult_id=consult_id))
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            row = ArchiveRow(consult_id=consult_id,
                             manifest_key=key_join(prefix, sealed.manifest_path.name),
                             manifest_sha256=sealed.manifest_sha256,
                             artefacts=len(sealed.entries), sealed_at=now)
            session.add(row)
            consult = await load_consult(session, consult_id, for_update=True)
            await audit_log.append(session, ARCHIVIST, "archive.sealed", consult_id=consult_id,
                                   at=now, details={"manifest_sha256": sealed.manifest_sha256,
                                                    "artefacts": len(sealed.entries)})
            if ConsultState(consult.state) is ConsultState.ENDED:
                await apply_transition(session, consult, ConsultTrigger.SEALED, ARCHIVIST, now)
        log.info("consult sealed", extra={"consult_id": consult_id,
                                          "manifest_sha256": sealed.manifest_sha256})
        return row

    async def recover(self) -> list[RecoveredSegment]:
        """At start-up: repair every recording a crash left unfinished and list it as
        `recovered` (the original file is kept untouched beside the repaired copy)."""
        root = self.storage.path_for("consults") if (self.storage.root / "consults").exists() \
            else None
        if root is None:
            return []
        found = await asyncio.get_running_loop().run_in_executor(None, recover_unfinished, root)
        for segment in found:
            await self._list_recovered(segment)
        return found

    async def _list_recovered(self, segment: RecoveredSegment) -> None:
        path = segment.repaired_path or segment.original_path
        relative = path.relative_to(self.storage.root).as_posix()
        consult_id = relative.split("/")[1]
        async with self.db.transaction() as session:
            await audit_log.append(session, ARCHIVIST, "recording.recovered",
                                   consult_id=consult_id, details={
                                       "status": segment.status, "storage_key": relative,
                                       "original_sha256": segment.original_sha256,
                                       "repaired_sha256": segment.repaired_sha256,
                                       "duration_s": segment.duration_s})
            if segment.status != "recovered" or segment.participant is None:
                return
            session.add(RecordingSegmentRow(
                consult_id=consult_id, participant=segment.participant,
                segment_index=segment.segment_index or 0, storage_key=relative,
                container="webm" if relative.endswith(".webm") else "matroska",
                codecs=[], video_size=None, started_at=datetime.fromtimestamp(
                    path.stat().st_mtime, UTC), duration_s=segment.duration_s,
                video_frames=segment.packets.get("video", 0),
                audio_frames=segment.packets.get("audio", 0), dropped=0,
                opened_because="unknown", closed_because="crash", status="recovered",
                sha256=segment.repaired_sha256 or "", size_bytes=segment.repaired_size or 0,
                retention_class=PROCESS.value))


def manifest_document(row: ArchiveRow) -> dict[str, Any]:
    return {"consult_id": row.consult_id, "manifest_key": row.manifest_key,
            "manifest_sha256": row.manifest_sha256, "artefacts": row.artefacts,
            "sealed_at": row.sealed_at.isoformat()}
