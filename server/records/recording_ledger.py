"""The server's side of a consult's recording (recorder.consult_recorder): each closed
segment listed in the database and the audit log in one transaction, and an overflow or a
write failure raised as an audit entry and an alert event; and the row of a segment a crash
left unfinished, once recovery has repaired it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recorder.consult_recorder import RecoveredRecording
from recorder.recording_reports import SegmentSummary
from recorder.retention import RetentionClass
from server.events.outbox import enqueue
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.db import Database
from server.kernel.models import RecordingSegmentRow

RECORDER = Actor.system("recorder")


class AuditedRecordingLedger:
    """`recorder.consult_recorder.RecordingLedger` over the database and the audit chain."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def segment_closed(self, consult_id: str, storage_key: str,
                             segment: SegmentSummary) -> None:
        row = segment_row(consult_id, storage_key, segment, status="finished")
        async with self.db.transaction() as session:
            session.add(row)
            await session.flush()
            await audit_log.append(session, RECORDER, "recording.segment_closed",
                                   consult_id=consult_id, details=segment_details(row))

    async def alert(self, consult_id: str, action: str, details: dict[str, Any]) -> None:
        async with self.db.transaction() as session:
            await audit_log.append(session, RECORDER, action, consult_id=consult_id,
                                   details=details)
            await enqueue(session, action, consult_id=consult_id,
                          payload={"consult_id": consult_id, "alert": True, **details},
                          at=datetime.now(UTC))


def segment_row(consult_id: str, key: str, segment: SegmentSummary,
                status: str) -> RecordingSegmentRow:
    size = segment.video_size
    return RecordingSegmentRow(
        consult_id=consult_id, participant=segment.participant, segment_index=segment.index,
        storage_key=key, container=segment.container_format,
        codecs=sorted(segment.codecs.values()),
        video_size=f"{size.width}x{size.height}" if size else None,
        started_at=datetime.fromtimestamp(segment.wall_clock_start, UTC),
        duration_s=segment.duration_s, video_frames=segment.video.packets_written,
        audio_frames=segment.audio.packets_written, dropped=sum(segment.dropped.values()),
        opened_because=segment.opened_because, closed_because=segment.closed_because,
        status=status, sha256=segment.sha256, size_bytes=segment.size_bytes,
        retention_class=RetentionClass.PROCESS_RECORD.value)


def recovered_segment_row(recording: RecoveredRecording) -> RecordingSegmentRow:
    """The row of a segment repaired after a crash: placed, sized and described like a
    closed one, from what recovery read in its marker and in the repaired copy."""
    segment = recording.segment
    size = segment.video_size
    return RecordingSegmentRow(
        consult_id=recording.consult_id, participant=segment.participant,
        segment_index=segment.segment_index or 0, storage_key=recording.storage_key,
        container="webm" if recording.storage_key.endswith(".webm") else "matroska",
        codecs=sorted(segment.codecs.values()),
        video_size=f"{size[0]}x{size[1]}" if size else None,
        started_at=recording.started_at, duration_s=segment.duration_s,
        video_frames=segment.packets.get("video", 0),
        audio_frames=segment.packets.get("audio", 0), dropped=0,
        opened_because="unknown", closed_because="crash", status="recovered",
        sha256=segment.repaired_sha256 or "", size_bytes=segment.repaired_size or 0,
        retention_class=RetentionClass.PROCESS_RECORD.value)


def segment_details(row: RecordingSegmentRow) -> dict[str, Any]:
    return {"participant": row.participant, "segment_index": row.segment_index,
            "storage_key": row.storage_key, "sha256": row.sha256, "size_bytes": row.size_bytes,
            "duration_s": row.duration_s, "video_frames": row.video_frames,
            "audio_frames": row.audio_frames, "dropped": row.dropped, "status": row.status}
