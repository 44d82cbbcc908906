"""Recording a consult for audit retention: every participant's encoded audio and video,
as forwarded, into their own crash-safe segments (recorder/), with each closed segment
listed in the database and the audit log, and an overflow raised as an alert, never left as
a silent gap."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from media.encoded_frame import EncodedFrame
from recorder.participant_recording import ParticipantRecording, RecordingSettings
from recorder.recording_reports import OverflowReport, RecordingFailure, SegmentSummary
from server.events.outbox import enqueue
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.db import Database
from server.kernel.models import RecordingSegmentRow

log = logging.getLogger("shouzhen.recording")
PROCESS_RECORD = "process_record"
RECORDER = Actor.system("recorder")


class ConsultRecorder:
    """A `FrameSink` for one consult: one recording per participant, started on their
    first packet."""

    def __init__(self, consult_id: str, directory: Path, key_prefix: str, db: Database,
                 settings: RecordingSettings | None = None) -> None:
        self.consult_id = consult_id
        self.directory = directory
        self.key_prefix = key_prefix  # storage key of `directory`
        self.db = db
        self.settings = settings
        self.request_keyframe: Callable[[str], Any] = lambda role: None
        self._recordings: dict[str, ParticipantRecording] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._finished = False

    def on_frame(self, role: str, frame: EncodedFrame) -> None:
        if self._finished:
            return
        recording = self._recordings.get(role)
        if recording is None:
            recording = self._start(role)
        kind: Literal["audio", "video"] = "audio" if frame.kind == "audio" else "video"
        recording.add_frame(
            kind, frame.codec, frame.data, frame.pts, frame.time_base, frame.keyframe, time.time()
        )

    def _start(self, role: str) -> ParticipantRecording:
        self.directory.mkdir(parents=True, exist_ok=True)
        recording = ParticipantRecording(
            self.directory, role, settings=self.settings,
            on_overflow=self._on_overflow, on_error=self._on_error,
            on_segment_closed=self._on_segment_closed,
            request_keyframe=lambda: self._keyframe(role),
            metadata={"consult_id": self.consult_id, "participant": role})
        recording.start()
        self._recordings[role] = recording
        return recording

    def _keyframe(self, role: str) -> None:
        outcome = self.request_keyframe(role)
        if asyncio.iscoroutine(outcome):
            self._track(asyncio.ensure_future(outcome))

    def new_segment(self, role: str, reason: str) -> None:
        """A reconnect or a new peer: the next media goes into a new segment, in order."""
        recording = self._recordings.get(role)
        if recording is not None:
            recording.start_new_segment(reason)

    async def finish(self) -> None:
        """Close every recording and wait until each segment is in the database."""
        self._finished = True
        for recording in list(self._recordings.values()):
            await recording.finish()
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    # -- callbacks from the recorder (on the event loop) ---------------------------------

    def _on_segment_closed(self, segment: SegmentSummary) -> None:
        self._track(self._write_segment(segment))

    def _on_overflow(self, report: OverflowReport) -> None:
        log.error("recording queue overflow", extra={"consult_id": self.consult_id,
                                                     "participant": report.participant,
                                                     "state": report.state})
        self._track(self._alert("recording.overflow", {
            "participant": report.participant, "state": report.state,
            "dropped_audio": report.total_dropped_audio,
            "dropped_video": report.total_dropped_video}))

    def _on_error(self, failure: RecordingFailure) -> None:
        log.error("recording write failed", extra={"consult_id": self.consult_id,
                                                   "participant": failure.participant,
                                                   "error": failure.error})
        self._track(self._alert("recording.write_failed", {
            "participant": failure.participant, "segment_index": failure.segment_index,
            "error": failure.error}))

    def _track(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_segment(self, segment: SegmentSummary) -> None:
        row = segment_row(self.consult_id, f"{self.key_prefix}/{segment.path.name}", segment,
                          status="finished")
        async with self.db.transaction() as session:
            session.add(row)
            await session.flush()
            await audit_log.append(session, RECORDER, "recording.segment_closed",
                                   consult_id=self.consult_id, details=segment_details(row))

    async def _alert(self, action: str, details: dict[str, Any]) -> None:
        async with self.db.transaction() as session:
            await audit_log.append(session, RECORDER, action, consult_id=self.consult_id,
                                   details=details)
            await enqueue(session, action, consult_id=self.consult_id,
                          payload={"consult_id": self.consult_id, "alert": True, **details},
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
        retention_class=PROCESS_RECORD)


def segment_details(row: RecordingSegmentRow) -> dict[str, Any]:
    return {"participant": row.participant, "segment_index": row.segment_index,
            "storage_key": row.storage_key, "sha256": row.sha256, "size_bytes": row.size_bytes,
            "duration_s": row.duration_s, "video_frames": row.video_frames,
            "audio_frames": row.audio_frames, "dropped": row.dropped, "status": row.status}
