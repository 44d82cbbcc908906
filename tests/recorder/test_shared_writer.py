"""Every recording of a process is written by one thread, and one recording's failure
stays its own."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from recorder.participant_recording import ParticipantRecording, RecordingSettings

# An interval no other test uses: this test owns the writer thread it looks at.
SETTINGS = RecordingSettings(writer_poll_s=0.0173)


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "recorder-writer-0.0173s"]


async def test_many_recordings_share_one_writer_thread_and_each_is_whole(
    tmp_path: Path, media: Any
) -> None:
    video = media.video_packets("vp8", 320, 240, 2.0)
    audio = media.audio_packets(2.0)
    packets = media.interleave(video, audio)
    recordings = [
        ParticipantRecording(tmp_path / f"consult-{i}", "guardian", settings=SETTINGS)
        for i in range(6)
    ]
    for recording in recordings:
        recording.start()
    for packet in packets:  # interleaved across recordings, as concurrent consults are
        for recording in recordings:
            media.feed(recording, [packet])
        await asyncio.sleep(0)

    assert len(writer_threads()) == 1
    summaries = await asyncio.gather(*(r.finish() for r in recordings))
    for summary in summaries:
        (segment,) = summary.segments
        assert segment.frames_written == {"audio": len(audio), "video": len(video)}
        assert media.demuxed_payloads(segment.path, "video") == [p.data for p in video]
    assert len(writer_threads()) == 1  # it stays for the next consults


async def test_a_recording_whose_writer_fails_does_not_stop_the_others(
    tmp_path: Path, media: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    packets = media.interleave(media.video_packets("vp8", 320, 240, 1.0), media.audio_packets(1.0))
    broken = ParticipantRecording(tmp_path / "broken", "physician", settings=SETTINGS)
    healthy = ParticipantRecording(tmp_path / "healthy", "physician", settings=SETTINGS)
    original_route = ParticipantRecording._route

    def route(self: ParticipantRecording, packet: Any) -> None:
        if self is broken:
            raise RuntimeError("bug in one recording")
        original_route(self, packet)

    monkeypatch.setattr(ParticipantRecording, "_route", route)
    broken.start()
    healthy.start()
    media.feed(broken, packets)
    media.feed(healthy, packets)

    with pytest.raises(RuntimeError, match="bug in one recording"):
        await asyncio.wait_for(broken.finish(), 10)
    summary = await asyncio.wait_for(healthy.finish(), 10)
    assert summary.segments[0].frames_written["video"] == 30
    assert writer_threads() and writer_threads()[0].is_alive()
