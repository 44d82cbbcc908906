"""Passthrough recording of one participant's encoded audio and video.

`ParticipantRecording.add_frame` runs on the event loop for every forwarded
frame. It offers the frame's (immutable) bytes to a bounded queue; nothing
else. A writer thread turns the queue into Matroska/WebM segments (see
`segment_file`), never decoding or re-encoding anything.

Policies (the "why" is next to the code that holds each):

* Segment start. A segment opens once every expected track has produced a
  packet it can start from (audio: any Opus packet; video: a keyframe that
  carries its picture size), or `track_start_wait_s` after its first packet,
  whichever comes first. A camera that is off therefore gives an audio-only
  segment after 2 s; when video turns up later it starts the next segment.
  Video packets before the first usable keyframe are dropped, counted, and a
  keyframe is requested.
* New segment on: codec change, picture-size change, timestamps going
  backwards (the sender restarted), a track appearing that the open container
  does not have, VP8 video silent for `video_silence_rollover_s` while audio
  continues (see the setting for why), and `start_new_segment()` (the server
  calls it on reconnect).
* Timing. Every track is anchored on the wall-clock arrival of its first packet
  in the segment; later packets keep their media-clock spacing. The segment's
  time 0 is the earliest of those arrivals.
* Overflow (slow disk). `add_frame` never blocks the loop (blocking it would
  stall both parties' media to save the recording). When the queue is full the
  packet is dropped and counted; audio resumes with the next packet that fits,
  video resumes only at the next keyframe (a missing inter-frame would corrupt
  every picture up to it) and a keyframe is requested. An overflow episode is
  reported to `on_overflow` when it starts and when it ends (queue below half
  and video whole again), and the drops are attributed to the segment they
  fall into.
* Write errors (disk full, I/O error): reported to `on_error`; the damaged
  segment keeps its `.recording` marker for start-up recovery; packets are
  dropped and counted for `write_error_retry_s`, then a new segment is tried.
* Crash loss. What a SIGKILL can lose: the Matroska cluster being built
  (≤ `cluster_time_limit_ms`, 1 s), plus up to `writer_poll_s` (100 ms) not yet
  taken from the queue (plus, on a busy node, the time the shared writer spends on
  the other recordings in one round), plus, while one track is silent (camera stopped),
  what libavformat holds to interleave (≤ `max_interleave_delta_ms`, 0.5 s;
  for VP8 until the `video_silence_rollover_s` rollover, 1 s),
  plus, in a segment's first seconds only, packets held while waiting for the
  other track (≤ `track_start_wait_s`). An fsync every
  `fsync_interval_s` bounds what a power cut can lose on top of that.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import ClassVar, Literal

from recorder.durable_files import sha256_file
from recorder.recording_reports import (
    KindTotals,
    OverflowReport,
    RecordingFailure,
    RecordingSummary,
    SegmentSummary,
    TrackSummary,
)
from recorder.segment_file import (
    AUDIO_CODECS,
    VIDEO_CODECS,
    MediaKind,
    MuxOptions,
    SegmentFile,
    SegmentTracks,
    next_segment_index,
    validate_participant,
)
from recorder.video_bitstream import (
    BitstreamError,
    FrameSize,
    announced_size,
    starting_keyframe_size,
    vp8_is_keyframe,
)

log = logging.getLogger(__name__)

_KINDS: tuple[MediaKind, MediaKind] = ("audio", "video")


class RecordingError(Exception):
    """Base class of the recorder's errors."""


class RecordingNotRunning(RecordingError):
    """add_frame before start(), or start_new_segment outside start()..finish()."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    # ~20 s of a 1.3 Mbps VP8 + Opus call: rides out a multi-second disk stall.
    queue_max_packets: int = 1600
    queue_max_bytes: int = 64 * 1024 * 1024
    track_start_wait_s: float = 2.0
    expect_audio: bool = True
    expect_video: bool = True
    fsync_interval_s: float = 1.0
    # How often the writer looks at the queue; adds at most this to crash loss, next to
    # the open cluster's second. Recordings with the same interval share one writer
    # thread (see _SharedWriter). Each look takes the GIL from the event loop: at 20 ms
    # the 50 looks a second cost 4 % of a forwarded consult's CPU (bench/README.md).
    writer_poll_s: float = 0.1
    # libavformat's interleaver holds every other packet back while a VP8 track
    # has none queued (VP8 is exempt from max_interleave_delta): a stopped camera
    # would keep audio in memory, unwritten, until the segment closes. So a VP8
    # silence this long, with audio still arriving, starts an audio-only segment.
    video_silence_rollover_s: float = 1.0
    write_error_retry_s: float = 5.0
    keyframe_request_interval_s: float = 1.0
    # An overflow episode ends when the queue has drained below this fraction,
    # so a queue hovering at its limit reports one episode rather than hundreds.
    overflow_resume_fraction: float = 0.5
    mux: MuxOptions = field(default_factory=MuxOptions)


# --------------------------------------------------------------------------- queue


@dataclass(slots=True)
class _QueuedPacket:
    kind: MediaKind
    codec: str
    data: bytes
    pts: int
    time_base: Fraction
    keyframe: bool
    arrival: float
    # Packets of this kind dropped on overflow just before this one: lets the
    # writer charge the gap to the segment it falls into.
    overflow_gap: int


@dataclass(slots=True)
class _NewSegment:
    reason: str


@dataclass(slots=True)
class _Stop:
    overflow_gaps: dict[MediaKind, int]


_QueueItem = _QueuedPacket | _NewSegment | _Stop


class _PacketQueue:
    """Bounded in packets and bytes for media; control items always get in.

    `offer` takes a lock for a deque append and never wakes the writer: waking
    a thread per packet costs the loop a GIL hand-over (~60 µs measured). The
    writer polls every `writer_poll_s` and takes everything at once. A packet
    counts against the bounds until the writer is done with it, so the bounds
    are what is really held in memory. Control items wake the writer at once
    through `on_control`.
    """

    def __init__(
        self, max_packets: int, max_bytes: int, on_control: Callable[[], None] | None = None
    ) -> None:
        self._items: deque[_QueueItem] = deque()
        self._cond = threading.Condition()
        self._on_control = on_control
        self._max_packets = max_packets
        self._max_bytes = max_bytes
        self._packets = 0
        self._bytes = 0

    def offer(self, item: _QueuedPacket) -> bool:
        size = len(item.data)
        with self._cond:
            # An oversized packet still gets in when the queue is empty, else it
            # could never be recorded at all.
            if self._packets and (
                self._packets >= self._max_packets or self._bytes + size > self._max_bytes
            ):
                return False
            self._items.append(item)
            self._packets += 1
            self._bytes += size
            return True

    def put_control(self, item: _NewSegment | _Stop) -> None:
        with self._cond:
            self._items.append(item)
        if self._on_control is not None:
            self._on_control()

    def take_all(self) -> list[_QueueItem]:
        with self._cond:
            items = list(self._items)
            self._items.clear()
            return items

    def done(self, item: _QueuedPacket) -> None:
        with self._cond:
            self._packets -= 1
            self._bytes -= len(item.data)

    def depth(self) -> tuple[int, int]:
        """(packets, bytes) queued or being written."""
        with self._cond:
            return self._packets, self._bytes


class _SharedWriter:
    """One thread that writes for every recording of this process with the same poll interval.

    A thread per participant would wake `1 / writer_poll_s` times a second each, and
    every wake-up takes the GIL from the event loop (a forced switch): at the 20 ms
    interval of then, 50 wake-ups per second per participant were ~10 % of a 1:1
    consult's CPU, growing with the number of consults. One thread per process keeps
    the wake-ups constant.
    A recording's writer code is unchanged; it just runs in turns.
    """

    _instances: ClassVar[dict[tuple[int, float], _SharedWriter]] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self._cond = threading.Condition()
        self._recordings: list[ParticipantRecording] = []
        self._woken = False
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-writer-{poll_s:g}s", daemon=True
        )
        self._thread.start()

    @classmethod
    def for_interval(cls, poll_s: float) -> _SharedWriter:
        # Keyed by pid too: a worker forked from a parent that recorded gets its own thread.
        key = (os.getpid(), poll_s)
        with cls._instances_lock:
            writer = cls._instances.get(key)
            if writer is None:
                writer = cls._instances[key] = cls(poll_s)
            return writer

    def add(self, recording: ParticipantRecording) -> None:
        with self._cond:
            self._recordings.append(recording)
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._woken:
                    # Nothing to write for: sleep until a recording starts.
                    self._cond.wait(self.poll_s if self._recordings else None)
                self._woken = False
                recordings = list(self._recordings)
            finished = [r for r in recordings if not r._write_round()]
            if finished:
                with self._cond:
                    self._recordings = [r for r in self._recordings if r not in finished]


# --------------------------------------------------------------------------- writer state


class _TrackState:
    """One track inside one segment; touched by the writer thread only."""

    def __init__(self, kind: MediaKind) -> None:
        self.kind: MediaKind = kind
        self.codec: str | None = None
        self.time_base: Fraction | None = None
        self.first_arrival = 0.0
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        self.last_arrival = 0.0
        self.offset_ms = 0
        self.first_ts_ms: int | None = None
        self.last_ts_ms = -1
        self.last_interval_ms = 0
        self.packets_written = 0
        self.bytes_written = 0
        self.dropped_before_keyframe = 0
        self.dropped_overflow = 0
        self.dropped_write_error = 0
        self.timestamps_adjusted = 0

    @property
    def started(self) -> bool:
        return self.codec is not None

    def start(self, packet: _QueuedPacket) -> None:
        self.codec = packet.codec
        self.time_base = packet.time_base
        self.first_arrival = packet.arrival
        self.first_pts = packet.pts

    def file_timestamp_ms(self, pts: int) -> int:
        assert self.time_base is not None and self.first_pts is not None
        tb = self.time_base
        # Round half up in integers: float seconds would drift over an hour-long consult.
        elapsed_ms = ((pts - self.first_pts) * tb.numerator * 2000 + tb.denominator) // (
            2 * tb.denominator
        )
        ts_ms = self.offset_ms + elapsed_ms
        if ts_ms <= self.last_ts_ms:
            # Matroska needs strictly increasing timestamps per track; two packets
            # inside one millisecond (or jitter) get nudged, never dropped.
            ts_ms = self.last_ts_ms + 1
            self.timestamps_adjusted += 1
        return ts_ms

    def record_written(self, packet: _QueuedPacket, ts_ms: int) -> None:
        if self.first_ts_ms is None:
            self.first_ts_ms = ts_ms
        else:
            self.last_interval_ms = ts_ms - self.last_ts_ms
        self.last_ts_ms = ts_ms
        self.packets_written += 1
        self.bytes_written += len(packet.data)

    def summary(self) -> TrackSummary:
        written = self.packets_written > 0
        return TrackSummary(
            kind=self.kind,
            codec=self.codec,
            packets_written=self.packets_written,
            bytes_written=self.bytes_written,
            first_pts=self.first_pts,
            last_pts=self.last_pts,
            time_base=self.time_base,
            start_s=self.first_ts_ms / 1000 if self.first_ts_ms is not None else None,
            end_s=self.last_ts_ms / 1000 if written else None,
            dropped_before_keyframe=self.dropped_before_keyframe,
            dropped_overflow=self.dropped_overflow,
            dropped_write_error=self.dropped_write_error,
            timestamps_adjusted=self.timestamps_adjusted,
        )


class _Segment:
    """A segment from its first packet to its close; writer thread only."""

    def __init__(self, opened_because: str, expected: frozenset[MediaKind]) -> None:
        self.opened_because = opened_because
        # Tracks worth waiting for (up to track_start_wait_s) before opening.
        self.expected = expected
        self.closed_because = ""
        self.tracks: dict[MediaKind, _TrackState] = {k: _TrackState(k) for k in _KINDS}
        self.video_size: FrameSize | None = None
        self.pending: list[_QueuedPacket] = []
        self.state: Literal["pending", "open", "closed", "failed"] = "pending"
        self.file: SegmentFile | None = None
        self.error: str | None = None

    def duration_s(self) -> float:
        ends = [
            t.last_ts_ms + t.last_interval_ms for t in self.tracks.values() if t.packets_written
        ]
        return max(ends, default=0) / 1000


# --------------------------------------------------------------------------- recording


class ParticipantRecording:
    """All segments of one participant in one consult."""

    def __init__(
        self,
        directory: Path,
        participant: str,
        *,
        settings: RecordingSettings | None = None,
        on_overflow: Callable[[OverflowReport], None] | None = None,
        on_error: Callable[[RecordingFailure], None] | None = None,
        on_segment_closed: Callable[[SegmentSummary], None] | None = None,
        request_keyframe: Callable[[], None] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.participant = validate_participant(participant)
        self.settings = settings or RecordingSettings()
        self._on_overflow = on_overflow
        self._on_error = on_error
        self._on_segment_closed = on_segment_closed
        self._request_keyframe = request_keyframe
        self._metadata = dict(metadata or {})
        self._writer = _SharedWriter.for_interval(self.settings.writer_poll_s)
        self._queue = _PacketQueue(
            self.settings.queue_max_packets, self.settings.queue_max_bytes, self._writer.wake
        )
        self._state: Literal["new", "running", "finishing", "finished"] = "new"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: concurrent.futures.Future[list[SegmentSummary]] = concurrent.futures.Future()
        self._summary: RecordingSummary | None = None
        # Loop-side counters (event loop thread only).
        self._received: dict[MediaKind, int] = {"audio": 0, "video": 0}
        self._queued: dict[MediaKind, int] = {"audio": 0, "video": 0}
        self._dropped_overflow: dict[MediaKind, int] = {"audio": 0, "video": 0}
        self._dropped_unsupported: dict[MediaKind, int] = {"audio": 0, "video": 0}
        self._gap: dict[MediaKind, int] = {"audio": 0, "video": 0}
        self._video_waits_for_keyframe = False
        self._episode: dict[MediaKind, int] | None = None
        self._episodes = 0
        self._last_keyframe_request = float("-inf")
        self._unsupported_reported: set[str] = set()
        self._late_packets = 0
        # Writer-side state (writer thread only).
        self._segments: list[_Segment] = []
        self._current = self._new_segment("start")
        self._next_index = 1
        self._failed_until: float | None = None
        self._last_sync = time.monotonic()
        self._writer_keyframe_ask = float("-inf")
        self._sealer = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"recorder-seal-{participant}"
        )
        self._seals: list[concurrent.futures.Future[SegmentSummary]] = []

    # ----------------------------------------------------------------- loop side

    def start(self) -> None:
        """Start writing (on the shared writer). Call from the event loop that will feed packets."""
        if self._state != "new":
            raise RecordingError(f"recording already {self._state}")
        self._loop = asyncio.get_running_loop()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._next_index = next_segment_index(self.directory, self.participant)
        self._state = "running"
        self._writer.add(self)

    def add_frame(
        self,
        kind: MediaKind,
        codec: str,
        data: bytes,
        pts: int,
        time_base: Fraction,
        keyframe: bool,
        arrival: float,
    ) -> bool:
        """Queue one encoded frame; True if queued, False if dropped (and counted).

        O(1), never blocks; ``data`` is kept as given (bytes are immutable).

        Frames arriving after finish() began are past the end of the record:
        they are refused (False) and counted, not raised, because the media
        path may deliver a few more before its tracks stop.
        """
        if self._state != "running":
            if self._state == "new":
                raise RecordingNotRunning(f"recording of {self.participant} was not started")
            self._late_packets += 1
            if self._late_packets == 1:
                log.warning(
                    "packets after finish are not recorded participant=%s", self.participant
                )
            return False
        if kind not in _KINDS:
            raise ValueError(f"kind must be 'audio' or 'video', not {kind!r}")
        self._received[kind] += 1
        if codec not in (AUDIO_CODECS if kind == "audio" else VIDEO_CODECS):
            self._drop_unsupported(kind, codec)
            return False
        if kind == "video" and self._video_waits_for_keyframe and not keyframe:
            self._drop_on_overflow(kind, arrival)
            return False
        item = _QueuedPacket(
            kind=kind,
            codec=codec,
            data=data,
            pts=pts,
            time_base=time_base,
            keyframe=keyframe,
            arrival=arrival,
            overflow_gap=self._gap[kind],
        )
        if not self._queue.offer(item):
            if kind == "video":
                self._video_waits_for_keyframe = True
            self._drop_on_overflow(kind, arrival)
            return False
        self._gap[kind] = 0
        self._queued[kind] += 1
        if kind == "video":
            self._video_waits_for_keyframe = False
        if self._episode is not None and not self._video_waits_for_keyframe:
            # Inter-frames skipped while waiting for the keyframe are part of the
            # same episode: it ends once video is whole again and the queue has room.
            self._maybe_end_overflow_episode(arrival)
        return True

    def start_new_segment(self, reason: str = "reconnect") -> None:
        """Close the current segment at this point of the packet stream."""
        if self._state != "running":
            raise RecordingNotRunning(f"recording of {self.participant} is {self._state}")
        self._queue.put_control(_NewSegment(reason))

    async def finish(self) -> RecordingSummary:
        """Close the last segment, fsync, hash; returns every segment in order."""
        if self._summary is not None:
            return self._summary
        if self._state == "new":
            self._state = "finished"
            self._summary = self._build_summary([])
            return self._summary
        if self._state == "running":
            self._state = "finishing"
            if self._episode is not None:
                self._end_overflow_episode(arrival=time.time())
            self._queue.put_control(_Stop(dict(self._gap)))
        segments = await asyncio.wrap_future(self._done)
        self._sealer.shutdown(wait=False)
        self._state = "finished"
        self._summary = self._build_summary(segments)
        return self._summary

    @property
    def packets_after_finish(self) -> int:
        """Packets refused because they arrived after finish() began."""
        return self._late_packets

    @property
    def queue_depth(self) -> tuple[int, int]:
        """(packets, bytes) queued or being written: what the bounds apply to."""
        return self._queue.depth()

    def _build_summary(self, segments: list[SegmentSummary]) -> RecordingSummary:
        totals: dict[MediaKind, KindTotals] = {}
        for kind in _KINDS:
            tracks = [s.tracks[kind] for s in self._segments]
            totals[kind] = KindTotals(
                received=self._received[kind],
                queued=self._queued[kind],
                written=sum(t.packets_written for t in tracks),
                # Loop-side count: includes drops never followed by a queued packet.
                dropped_overflow=self._dropped_overflow[kind],
                dropped_before_keyframe=sum(t.dropped_before_keyframe for t in tracks),
                dropped_write_error=sum(t.dropped_write_error for t in tracks),
                dropped_unsupported_codec=self._dropped_unsupported[kind],
            )
        return RecordingSummary(
            participant=self.participant,
            segments=tuple(segments),
            audio=totals["audio"],
            video=totals["video"],
            overflow_episodes=self._episodes,
        )

    def _drop_unsupported(self, kind: MediaKind, codec: str) -> None:
        self._dropped_unsupported[kind] += 1
        if codec not in self._unsupported_reported:
            self._unsupported_reported.add(codec)
            log.error(
                "unsupported codec not recorded participant=%s kind=%s codec=%s",
                self.participant,
                kind,
                codec,
            )
            self._notify_error(
                RecordingFailure(self.participant, None, None, f"unsupported {kind} codec {codec}")
            )

    def _drop_on_overflow(self, kind: MediaKind, arrival: float) -> None:
        self._dropped_overflow[kind] += 1
        self._gap[kind] += 1
        if kind == "video":
            self._ask_for_keyframe()
        if self._episode is None:
            self._episodes += 1
            self._episode = {"audio": 0, "video": 0}
            self._episode[kind] += 1
            packets, size = self._queue.depth()
            log.warning(
                "recorder queue overflow participant=%s kind=%s queue_packets=%d queue_bytes=%d",
                self.participant,
                kind,
                packets,
                size,
            )
            self._report_overflow("started", arrival)
        else:
            self._episode[kind] += 1

    def _maybe_end_overflow_episode(self, arrival: float) -> None:
        packets, size = self._queue.depth()
        limit = self.settings.overflow_resume_fraction
        if (
            packets <= self.settings.queue_max_packets * limit
            and size <= self.settings.queue_max_bytes * limit
        ):
            self._end_overflow_episode(arrival)

    def _end_overflow_episode(self, arrival: float) -> None:
        self._report_overflow("ended", arrival)
        log.warning(
            "recorder queue overflow ended participant=%s dropped_audio=%d dropped_video=%d",
            self.participant,
            self._episode["audio"] if self._episode else 0,
            self._episode["video"] if self._episode else 0,
        )
        self._episode = None

    def _report_overflow(self, state: Literal["started", "ended"], arrival: float) -> None:
        episode = self._episode or {"audio": 0, "video": 0}
        packets, size = self._queue.depth()
        report = OverflowReport(
            participant=self.participant,
            state=state,
            episode_dropped_audio=episode["audio"],
            episode_dropped_video=episode["video"],
            total_dropped_audio=self._dropped_overflow["audio"],
            total_dropped_video=self._dropped_overflow["video"],
            queue_packets=packets,
            queue_bytes=size,
            arrival=arrival,
        )
        if self._on_overflow is not None:
            self._call_safely(self._on_overflow, report)

    def _ask_for_keyframe(self) -> None:
        if self._request_keyframe is None:
            return
        now = time.monotonic()
        if now - self._last_keyframe_request >= self.settings.keyframe_request_interval_s:
            self._last_keyframe_request = now
            self._call_safely(self._request_keyframe)

    def _notify_error(self, failure: RecordingFailure) -> None:
        if self._on_error is not None:
            self._call_safely(self._on_error, failure)

    def _call_safely(self, callback: Callable[..., None], *args: object) -> None:
        # A failing callback must not take the recording (or the media path) down.
        try:
            callback(*args)
        except Exception:
            log.exception("recorder callback failed participant=%s", self.participant)

    def _from_writer(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # loop closed between the check and the call
            log.warning("event loop gone, dropped a recorder notification")

    # ----------------------------------------------------------------- writer thread

    def _write_round(self) -> bool:
        """Write what is queued; False once this recording is stopped (or its writer crashed)."""
        try:
            for item in self._queue.take_all():
                if isinstance(item, _QueuedPacket):
                    try:
                        self._route(item)
                    finally:
                        self._queue.done(item)
                elif isinstance(item, _NewSegment):
                    self._close_current(item.reason)
                else:
                    self._stop(item)
                    return False
            self._sync_if_due()
            return True
        except Exception as exc:
            # One recording's bug must not stop the shared writer for the others.
            log.exception("recorder writer crashed participant=%s", self.participant)
            self._from_writer(
                self._notify_error,
                RecordingFailure(self.participant, None, None, f"writer crashed: {exc!r}"),
            )
            self._done.set_exception(exc)
            return False

    def _new_segment(self, opened_because: str) -> _Segment:
        expected: set[MediaKind] = set()
        if self.settings.expect_audio:
            expected.add("audio")
        if self.settings.expect_video:
            expected.add("video")
        if opened_because == "video_stopped":
            expected.discard("video")  # it just stopped: waiting would only hold audio back
        segment = _Segment(opened_because, frozenset(expected))
        self._segments.append(segment)
        return segment

    def _route(self, packet: _QueuedPacket) -> None:
        segment = self._current
        segment.tracks[packet.kind].dropped_overflow += packet.overflow_gap
        if self._failed_until is not None:
            if packet.arrival < self._failed_until:
                segment.tracks[packet.kind].dropped_write_error += 1
                return
            self._failed_until = None
        if packet.kind == "video" and packet.codec == "vp8":
            # The bitstream is authoritative for VP8 and costs one byte to read.
            packet.keyframe = vp8_is_keyframe(packet.data)
        reason = self._rollover_reason(segment, packet)
        if reason is not None:
            self._close_current(reason)
            segment = self._current
        track = segment.tracks[packet.kind]
        if not track.started and (
            segment.state == "open" or not self._start_track(segment, packet)
        ):
            # Video that cannot start yet: an inter-frame would decode to garbage.
            track.dropped_before_keyframe += 1
            self._writer_asks_for_keyframe()
            return
        track.last_pts = packet.pts
        track.last_arrival = packet.arrival
        if segment.state == "pending":
            segment.pending.append(packet)
            if self._ready_to_open(segment, packet.arrival):
                self._open(segment)
            return
        self._write(segment, packet)

    def _writer_asks_for_keyframe(self) -> None:
        # Rate-limited here too: every skipped inter-frame would otherwise wake the loop.
        now = time.monotonic()
        if now - self._writer_keyframe_ask >= self.settings.keyframe_request_interval_s:
            self._writer_keyframe_ask = now
            self._from_writer(self._ask_for_keyframe)

    def _safe_size(
        self, read_size: Callable[[str, bytes], FrameSize | None], p: _QueuedPacket
    ) -> FrameSize | None:
        try:
            return read_size(p.codec, p.data)
        except BitstreamError as exc:
            log.warning(
                "unreadable video header participant=%s codec=%s error=%s",
                self.participant,
                p.codec,
                exc,
            )
            return None

    def _rollover_reason(self, segment: _Segment, packet: _QueuedPacket) -> str | None:
        track = segment.tracks[packet.kind]
        video = segment.tracks["video"]
        if (
            packet.kind == "audio"
            and segment.state == "open"
            and video.codec == "vp8"
            and packet.arrival - video.last_arrival > self.settings.video_silence_rollover_s
        ):
            return "video_stopped"
        if track.started:
            if packet.codec != track.codec:
                return "codec_change"
            if track.last_pts is not None and packet.pts < track.last_pts:
                return "timestamp_reset"
            if packet.kind == "video" and packet.keyframe:
                size = self._safe_size(announced_size, packet)
                if size is not None and size != segment.video_size:
                    return "resolution_change"
            return None
        if segment.state == "open":
            # Matroska cannot add a track after its header: the newcomer starts a segment.
            if packet.kind == "audio":
                return "track_added"
            if self._safe_size(starting_keyframe_size, packet) is not None:
                return "track_added"
        return None

    def _start_track(self, segment: _Segment, packet: _QueuedPacket) -> bool:
        if packet.kind == "video":
            size = self._safe_size(starting_keyframe_size, packet)
            if size is None:
                return False
            segment.video_size = size
        segment.tracks[packet.kind].start(packet)
        return True

    def _ready_to_open(self, segment: _Segment, now: float) -> bool:
        if all(segment.tracks[kind].started for kind in segment.expected):
            return True
        return now - segment.pending[0].arrival >= self.settings.track_start_wait_s

    def _open(self, segment: _Segment) -> None:
        started = [t for t in segment.tracks.values() if t.started]
        segment_start = min(t.first_arrival for t in started)
        for track in started:
            track.offset_ms = round((track.first_arrival - segment_start) * 1000)
        tracks = SegmentTracks(
            audio_codec=segment.tracks["audio"].codec,
            video_codec=segment.tracks["video"].codec,
            video_size=segment.video_size if segment.tracks["video"].started else None,
        )
        segment_file = SegmentFile(
            self.directory,
            self.participant,
            self._next_index,
            tracks,
            segment_start,
            self.settings.mux,
            self._metadata,
        )
        self._next_index += 1
        segment.file = segment_file
        pending, segment.pending = segment.pending, []
        try:
            segment_file.open()
        except Exception as exc:
            for packet in pending:
                segment.tracks[packet.kind].dropped_write_error += 1
            self._fail(segment, exc, pending[-1].arrival)
            return
        segment.state = "open"
        self._last_sync = time.monotonic()
        for position, packet in enumerate(pending):
            self._write(segment, packet)
            if segment.state != "open":
                for lost in pending[position + 1 :]:
                    segment.tracks[lost.kind].dropped_write_error += 1
                return

    def _write(self, segment: _Segment, packet: _QueuedPacket) -> None:
        assert segment.file is not None
        track = segment.tracks[packet.kind]
        ts_ms = track.file_timestamp_ms(packet.pts)
        try:
            segment.file.write(packet.kind, packet.data, ts_ms, packet.keyframe)
        except Exception as exc:
            track.dropped_write_error += 1
            self._fail(segment, exc, packet.arrival)
            return
        track.record_written(packet, ts_ms)

    def _sync_if_due(self) -> None:
        segment = self._current
        if segment.state != "open" or segment.file is None:
            return
        now = time.monotonic()
        if now - self._last_sync < self.settings.fsync_interval_s:
            return
        self._last_sync = now
        try:
            segment.file.sync()
        except OSError as exc:
            self._fail(segment, exc, None)

    def _close_current(self, reason: str) -> None:
        segment = self._current
        if segment.state == "pending" and segment.pending:
            self._open(segment)
        if segment.state == "open":
            assert segment.file is not None
            segment.closed_because = reason
            try:
                segment.file.close()
            except Exception as exc:
                self._fail(segment, exc, None)
            else:
                segment.state = "closed"
                self._seal(segment)
        if self._current is segment:
            self._current = self._new_segment(reason)

    def _fail(self, segment: _Segment, exc: BaseException, arrival: float | None) -> None:
        path = segment.file.path if segment.file is not None else None
        log.error(
            "recording segment failed participant=%s file=%s error=%r",
            self.participant,
            path,
            exc,
        )
        segment.error = repr(exc)
        segment.state = "failed"
        segment.closed_because = segment.closed_because or "write_error"
        if segment.file is not None:
            segment.file.abandon()
            if segment.file.path.exists():
                # The partial file is evidence too: hash and report it; its marker
                # stays so start-up recovery repairs a copy.
                self._seal(segment)
        if arrival is not None:
            self._failed_until = arrival + self.settings.write_error_retry_s
        index = segment.file.index if segment.file is not None else None
        self._from_writer(
            self._notify_error, RecordingFailure(self.participant, index, path, repr(exc))
        )
        self._current = self._new_segment("write_error_retry")

    def _seal(self, segment: _Segment) -> None:
        assert segment.file is not None
        segment_file = segment.file
        audio = segment.tracks["audio"].summary()
        video = segment.tracks["video"].summary()
        duration = segment.duration_s()

        def seal() -> SegmentSummary:
            digest = sha256_file(segment_file.path)
            summary = SegmentSummary(
                participant=self.participant,
                index=segment_file.index,
                path=segment_file.path,
                container_format=segment_file.container_format,
                opened_because=segment.opened_because,
                closed_because=segment.closed_because,
                wall_clock_start=segment_file.wall_clock_start,
                video_size=segment_file.tracks.video_size,
                audio=audio,
                video=video,
                duration_s=duration,
                sha256=digest.sha256,
                size_bytes=digest.size,
                error=segment.error,
            )
            log.info(
                "segment sealed participant=%s segment=%d sha256=%s size=%d duration_s=%.3f",
                self.participant,
                summary.index,
                summary.sha256,
                summary.size_bytes,
                summary.duration_s,
            )
            if self._on_segment_closed is not None:
                self._from_writer(self._call_safely, self._on_segment_closed, summary)
            return summary

        # Hashing a long segment takes a while: keep it off the writer so the
        # queue keeps draining into the next segment.
        self._seals.append(self._sealer.submit(seal))

    def _stop(self, stop: _Stop) -> None:
        for kind, gap in stop.overflow_gaps.items():
            self._current.tracks[kind].dropped_overflow += gap
        self._close_current("finished")
        seals = list(self._seals)
        # Hashing can take seconds: the shared writer must not wait for it. The sealer
        # runs its jobs in order, so this one ends after every seal.
        collected = self._sealer.submit(lambda: [future.result() for future in seals])
        collected.add_done_callback(self._finished_sealing)

    def _finished_sealing(self, collected: concurrent.futures.Future[list[SegmentSummary]]) -> None:
        error = collected.exception()
        if error is not None:
            self._done.set_exception(error)
        else:
            self._done.set_result(collected.result())
