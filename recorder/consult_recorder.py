"""Recording a consult: every participant's encoded audio and video, as forwarded, into
their own crash-safe segments, each closed segment handed to a ledger, an overflow or a
write failure raised as an alert, never left as a silent gap; and, at start-up, the
recordings a crash left unfinished.

What the ledger does with a segment or an alert (a database row, an audit entry, an event
out) is the caller's: `RecordingLedger` is the port, the server implements it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Protocol

from recorder.crash_recovery import RecoveredSegment, recover_unfinished
from recorder.participant_recording import ParticipantRecording, RecordingSettings
from recorder.recording_reports import OverflowReport, RecordingFailure, SegmentSummary
from recorder.storage import LocalDirectoryStorage

log = logging.getLogger("shouzhen.recording")


class RecordedFrame(Protocol):
    """One encoded frame as the media layer hands it over (media.encoded_frame)."""

    @property
    def kind(self) -> str: ...

    @property
    def codec(self) -> str: ...

    @property
    def data(self) -> bytes: ...

    @property
    def pts(self) -> int: ...

    @property
    def time_base(self) -> Fraction: ...

    @property
    def keyframe(self) -> bool: ...


class RecordingLedger(Protocol):
    """Where a consult's recording reports what it wrote and what went wrong."""

    async def segment_closed(self, consult_id: str, storage_key: str,
                             segment: SegmentSummary) -> None:
        """A segment is closed and hashed: list it (it is then part of the record)."""

    async def alert(self, consult_id: str, action: str, details: dict[str, Any]) -> None:
        """`recording.overflow` or `recording.write_failed`: media may be missing."""


class ConsultRecorder:
    """A frame sink for one consult: one recording per participant, started on their
    first packet."""

    def __init__(self, consult_id: str, directory: Path, key_prefix: str,
                 ledger: RecordingLedger, settings: RecordingSettings | None = None) -> None:
        self.consult_id = consult_id
        self.directory = directory
        self.key_prefix = key_prefix  # storage key of `directory`
        self.ledger = ledger
        self.settings = settings
        self.request_keyframe: Callable[[str], Any] = lambda role: None
        self._recordings: dict[str, ParticipantRecording] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._finished = False

    def on_frame(self, role: str, frame: RecordedFrame) -> None:
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
        """Close every recording and wait until the ledger has every segment."""
        self._finished = True
        for recording in list(self._recordings.values()):
            await recording.finish()
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    # -- callbacks from the recordings (on the event loop) --------------------------------

    def _on_segment_closed(self, segment: SegmentSummary) -> None:
        self._track(self.ledger.segment_closed(
            self.consult_id, f"{self.key_prefix}/{segment.path.name}", segment))

    def _on_overflow(self, report: OverflowReport) -> None:
        log.error("recording queue overflow", extra={"consult_id": self.consult_id,
                                                     "participant": report.participant,
                                                     "state": report.state})
        self._raise("recording.overflow", {
            "participant": report.participant, "state": report.state,
            "dropped_audio": report.total_dropped_audio,
            "dropped_video": report.total_dropped_video})

    def _on_error(self, failure: RecordingFailure) -> None:
        log.error("recording write failed", extra={"consult_id": self.consult_id,
                                                   "participant": failure.participant,
                                                   "error": failure.error})
        self._raise("recording.write_failed", {
            "participant": failure.participant, "segment_index": failure.segment_index,
            "error": failure.error})

    def _raise(self, action: str, details: dict[str, Any]) -> None:
        self._track(self.ledger.alert(self.consult_id, action, details))

    def _track(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)


# -- after a crash ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoveredRecording:
    """A consult's segment that a crash left unfinished, as recovery found and left it."""

    consult_id: str
    storage_key: str  # the repaired copy, or the original when nothing could be repaired
    last_written_at: datetime  # the file's modification time
    segment: RecoveredSegment

    @property
    def started_at(self) -> datetime:
        """The segment's time 0, where replay places it: the wall clock its marker (or the
        file's tag) recorded; the last write only when neither survived the crash."""
        start = self.segment.wall_clock_start
        return self.last_written_at if start is None else datetime.fromtimestamp(start, UTC)


def recover_consult_recordings(storage: LocalDirectoryStorage) -> list[RecoveredRecording]:
    """Repair every consult recording a crash left unfinished (the original file is kept
    untouched beside the repaired copy); blocking, run it at start-up before recording."""
    if not (storage.root / "consults").exists():
        return []
    found = []
    for segment in recover_unfinished(storage.path_for("consults")):
        path = segment.repaired_path or segment.original_path
        relative = path.relative_to(storage.root).as_posix()
        found.append(RecoveredRecording(
            consult_id=relative.split("/")[1], storage_key=relative,
            last_written_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
            segment=segment))
    return found
