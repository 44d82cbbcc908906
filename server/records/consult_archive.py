"""Sealing a consult's archive when it ends, and listing recordings recovered after a crash:
the database and audit-chain side of recorder.archive_seal and recorder.consult_recorder.

The recorder writes the record documents and the manifest; here they are loaded from the
database, and the manifest's hash goes into the audit chain in the same transaction that
moves the consult to `archived`, so a manifest swapped for another fails the chain.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import sqlalchemy as sa

from recorder.archive_seal import RecordDocuments, seal_consult_archive
from recorder.consult_recorder import RecoveredRecording, recover_consult_recordings
from recorder.crash_recovery import RecoveredSegment
from recorder.storage import LocalDirectoryStorage, consult_prefix, key_join, recordings_key
from server.clinical.chat import ChatLog
from server.clinical.consult_lifecycle import ConsultState, ConsultTrigger
from server.clinical.consults import ConsultService, apply_transition, consult_view, load_consult
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.db import Database
from server.kernel.models import ArchiveRow, PhotoRow
from server.records.recording_ledger import recovered_segment_row

log = logging.getLogger("shouzhen.archive")
ARCHIVIST = Actor.system("archive")


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
        documents = RecordDocuments(
            consult=consult_view(record, for_staff=True),
            chat=await self.chat.transcript(consult_id), audit=audit_slice,
            intake=record.intake.data if record.intake is not None else None)
        photo_keys = [key for photo in photos for key in (photo.storage_key, photo.thumbnail_key)]
        sealed = await asyncio.get_running_loop().run_in_executor(None, partial(
            seal_consult_archive, self.storage, consult_id, documents, photo_keys))
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            row = ArchiveRow(consult_id=consult_id,
                             manifest_key=key_join(consult_prefix(consult_id),
                                                   sealed.manifest_path.name),
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
        found = await asyncio.get_running_loop().run_in_executor(
            None, recover_consult_recordings, self.storage)
        for recording in found:
            await self._list_recovered(recording)
        return [recording.segment for recording in found]

    async def _list_recovered(self, recording: RecoveredRecording) -> None:
        segment, consult_id = recording.segment, recording.consult_id
        async with self.db.transaction() as session:
            await audit_log.append(session, ARCHIVIST, "recording.recovered",
                                   consult_id=consult_id, details={
                                       "status": segment.status,
                                       "storage_key": recording.storage_key,
                                       "original_sha256": segment.original_sha256,
                                       "repaired_sha256": segment.repaired_sha256,
                                       "duration_s": segment.duration_s})
            if segment.status != "recovered" or segment.participant is None:
                return
            session.add(recovered_segment_row(recording))

