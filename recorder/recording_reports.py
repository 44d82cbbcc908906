"""What a recording reports: per-track, per-segment and per-participant summaries,
overflow episodes and failures. Plain values the server writes into its audit log.

Counting rule: every packet handed to `add_frame` ends up either written or in
exactly one `dropped_*` counter, so `KindTotals.accounted == KindTotals.received`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from recorder.segment_file import MediaKind
from recorder.video_bitstream import FrameSize


@dataclass(frozen=True, slots=True)
class TrackSummary:
    kind: MediaKind
    codec: str | None  # None: the track never started in this segment
    packets_written: int
    bytes_written: int
    first_pts: int | None  # as received, in the track's own clock
    last_pts: int | None
    time_base: Fraction | None
    start_s: float | None  # first packet's position in the file
    end_s: float | None  # last packet's position in the file
    dropped_before_keyframe: int
    dropped_overflow: int
    dropped_write_error: int
    timestamps_adjusted: int  # nudged by 1 ms to keep them strictly increasing

    @property
    def dropped(self) -> int:
        return self.dropped_before_keyframe + self.dropped_overflow + self.dropped_write_error


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    participant: str
    index: int
    path: Path
    container_format: str
    opened_because: str
    closed_because: str
    wall_clock_start: float  # seconds since the epoch, arrival clock of the segment's time 0
    video_size: FrameSize | None
    audio: TrackSummary
    video: TrackSummary
    duration_s: float
    sha256: str
    size_bytes: int
    error: str | None  # set when the segment ended in a write error (file kept, marker kept)

    @property
    def codecs(self) -> dict[MediaKind, str]:
        return {t.kind: t.codec for t in (self.audio, self.video) if t.codec is not None}

    @property
    def frames_written(self) -> dict[MediaKind, int]:
        return {"audio": self.audio.packets_written, "video": self.video.packets_written}

    @property
    def dropped(self) -> dict[MediaKind, int]:
        return {"audio": self.audio.dropped, "video": self.video.dropped}


@dataclass(frozen=True, slots=True)
class KindTotals:
    received: int = 0
    queued: int = 0
    written: int = 0
    dropped_overflow: int = 0
    dropped_before_keyframe: int = 0
    dropped_write_error: int = 0
    dropped_unsupported_codec: int = 0

    @property
    def accounted(self) -> int:
        """Every received packet is written or dropped for a named reason."""
        return (
            self.written
            + self.dropped_overflow
            + self.dropped_before_keyframe
            + self.dropped_write_error
            + self.dropped_unsupported_codec
        )


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    participant: str
    segments: tuple[SegmentSummary, ...]
    audio: KindTotals
    video: KindTotals
    overflow_episodes: int


@dataclass(frozen=True, slots=True)
class OverflowReport:
    participant: str
    state: Literal["started", "ended"]
    episode_dropped_audio: int
    episode_dropped_video: int
    total_dropped_audio: int
    total_dropped_video: int
    queue_packets: int
    queue_bytes: int
    arrival: float


@dataclass(frozen=True, slots=True)
class RecordingFailure:
    participant: str
    segment_index: int | None
    path: Path | None
    error: str
