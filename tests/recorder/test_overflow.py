"""A slow disk fills the queue: drops are reported and counted, never silent."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from recorder.participant_recording import ParticipantRecording, RecordingSettings
from recorder.recording_reports import OverflowReport
from recorder.segment_file import SegmentFile


async def drain(recording: ParticipantRecording) -> None:
    """Wait (up to 10 s) until the writer thread has taken every queued packet."""
    for _ in range(2000):
        if recording.queue_depth[0] == 0:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the writer never drained the queue")


async def test_slow_disk_overflow_is_reported_counted_and_video_resumes_on_a_keyframe(
    tmp_path: Path, media: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_disk = threading.Event()
    original_write = SegmentFile.write

    def write_slowly(self: SegmentFile, *args: Any) -> None:
        if slow_disk.is_set():
            time.sleep(0.02)
        original_write(self, *args)

    monkeypatch.setattr(SegmentFile, "write", write_slowly)

    # GOP of 25 frames: the disk recovers at frame 60, mid-GOP.
    video = media.video_packets("vp8", 640, 480, 3.0, gop=25)
    audio = media.audio_packets(3.0)
    packets = media.interleave(video, audio)
    reports: list[OverflowReport] = []
    keyframe_requests: list[float] = []
    recording = ParticipantRecording(
        tmp_path,
        "physician",
        settings=RecordingSettings(
            queue_max_packets=8, keyframe_request_interval_s=0.0, writer_poll_s=0.002
        ),
        on_overflow=reports.append,
        request_keyframe=lambda: keyframe_requests.append(time.monotonic()),
    )
    recording.start()

    third = len(packets) // 3
    for p in packets[:third]:  # healthy disk: nothing dropped
        media.feed(recording, [p])
        await drain(recording)
    assert reports == []

    slow_disk.set()  # the disk stalls; the loop keeps feeding at full speed
    feeding_started = time.perf_counter()
    accepted_while_slow = media.feed(recording, packets[third : 2 * third])
    feeding_took = time.perf_counter() - feeding_started
    # The loop never waited for the disk: a blocking put would take 20 ms per packet.
    assert feeding_took < 0.02 * (third - 8) / 4, feeding_took
    assert accepted_while_slow < third
    assert [r.state for r in reports] == ["started"]
    slow_disk.clear()
    await drain(recording)

    for p in packets[2 * third :]:  # the disk is back
        media.feed(recording, [p])
        await drain(recording)
    summary = await recording.finish()

    assert [r.state for r in reports] == ["started", "ended"]
    ended = reports[-1]
    assert ended.total_dropped_audio == summary.audio.dropped_overflow > 0
    assert ended.total_dropped_video == summary.video.dropped_overflow > 0
    # One episode: the stall's drops plus the inter-frames skipped until the next keyframe.
    assert ended.episode_dropped_audio + ended.episode_dropped_video == (
        summary.audio.dropped_overflow + summary.video.dropped_overflow
    )
    assert summary.audio.dropped_overflow + summary.video.dropped_overflow > (
        third - accepted_while_slow
    )
    assert summary.overflow_episodes == 1
    assert keyframe_requests, "lost video must ask the sender for a keyframe"

    # Every packet is either in the file or counted under a named reason …
    for totals, fed in ((summary.audio, audio), (summary.video, video)):
        assert totals.received == len(fed) == totals.accounted
    # … and the per-segment counts add up to the same drops (nothing unattributed).
    assert sum(s.audio.dropped_overflow for s in summary.segments) == summary.audio.dropped_overflow
    assert sum(s.video.dropped_overflow for s in summary.segments) == summary.video.dropped_overflow

    # Video resumed only at keyframes: each run of consecutive frames in the
    # file starts with a keyframe, so no picture references a missing frame.
    index_of = {p.data: i for i, p in enumerate(video)}
    # (While video waits for its keyframe the VP8 track is silent, so the
    # recorder may hand over to an audio-only segment: skip those.)
    with_video = [s for s in summary.segments if "video" in s.codecs]
    recorded = [
        index_of[data]
        for segment in with_video
        for data in media.demuxed_payloads(segment.path, "video")
    ]
    assert len(recorded) == summary.video.written
    for position, frame in enumerate(recorded):
        if position == 0 or recorded[position - 1] != frame - 1:
            assert video[frame].keyframe, f"run restarting at frame {frame} is not a keyframe"
    for segment in with_video:
        probe = media.ffprobe(segment.path, "-count_frames")
        assert (
            int(media.stream_of(probe, "video")["nb_read_frames"]) == segment.video.packets_written
        )


async def test_write_errors_are_reported_and_recording_resumes(
    tmp_path: Path, media: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = threading.Event()
    original_write = SegmentFile.write

    def write_or_fail(self: SegmentFile, *args: Any) -> None:
        if failing.is_set():
            failing.clear()
            raise OSError(28, "No space left on device")
        original_write(self, *args)

    monkeypatch.setattr(SegmentFile, "write", write_or_fail)
    failures: list[Any] = []
    recording = ParticipantRecording(
        tmp_path,
        "guardian",
        settings=RecordingSettings(write_error_retry_s=0.5),
        on_error=failures.append,
    )
    recording.start()
    video = media.video_packets("vp8", 640, 480, 3.0, gop=30)
    audio = media.audio_packets(3.0)
    packets = media.interleave(video, audio)
    media.feed(recording, packets[:100])
    await drain(recording)
    failing.set()
    media.feed(recording, packets[100:])
    summary = await recording.finish()
    await asyncio.sleep(0)  # let the writer's notification reach the loop

    assert len(failures) == 1 and "No space left" in failures[0].error
    first, *rest = summary.segments
    assert first.error is not None and first.closed_because == "write_error"
    # The damaged segment keeps its marker so start-up recovery repairs it.
    assert first.path.with_name(first.path.name + ".recording").exists()
    assert rest and rest[0].opened_because == "write_error_retry" and rest[0].error is None
    assert summary.audio.dropped_write_error > 0
    for totals in (summary.audio, summary.video):
        assert totals.accounted == totals.received
