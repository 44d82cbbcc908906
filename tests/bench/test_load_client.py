"""The benchmark's load client (bench/client.py) counts what a call really carried.

The harness's figures (loss, delay, join -> first frame) are only as good as this client,
which sends and receives RTP through shouzhen's own fast paths rather than aiortc's: these
tests hold it to a real call between two of its parties, and to the packets it is told to
count.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench import media_files
from bench.client import MARK_LEN, PacketSource, Party, StreamMeter, marker, read_marker
from media.rtp.writer import rtp_packet


@pytest.fixture(scope="module")
def clip() -> dict[str, list]:
    """The benchmark's own VP8 and Opus clips, 1.5 s long: one keyframe, at the start."""
    return {"video": media_files.encode_video("vp8", seconds=1.5),
            "audio": media_files.encode_opus(seconds=1)}


async def _until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_call_between_two_load_clients_delivers_every_frame_with_its_send_time(clip):
    caller, callee = Party("physician", "vp8", clip), Party("guardian", "vp8", clip)
    try:
        caller.join_sent_at = callee.join_sent_at = time.monotonic()
        answer = await callee.answer(await caller.offer())
        await caller.accept(answer)
        parties = (caller, callee)
        await _until(lambda: all(len(p.meters["video"].frames) >= 40
                                 and len(p.meters["audio"].frames) >= 60 for p in parties))
        for sender, receiver in ((caller, callee), (callee, caller)):
            video, audio = receiver.meters["video"], receiver.meters["audio"]
            assert video.first_frame_at is not None  # the first keyframe was decoded
            assert video.lost_packets == video.broken_frames == 0
            sent_us = {int(t * 1e6) for t in sender.video.sent_at}
            assert all(round(s * 1e6) in sent_us for s, _ in video.frames), "a marker misread"
            assert all(0 <= arrival - s < 0.5 for s, arrival in video.frames + audio.frames)
            assert video.packets > len(video.frames)  # VP8 frames span several packets
    finally:
        await caller.close()
        await callee.close()


async def test_a_keyframe_request_sends_the_clip_back_to_its_keyframe(clip):
    caller, callee = Party("physician", "vp8", clip), Party("guardian", "vp8", clip)
    try:
        await caller.accept(await callee.answer(await caller.offer()))
        meter = callee.meters["video"]
        await _until(lambda: len(meter.frames) >= 10)
        assert caller.video.keyframe_jumps == 0
        await meter.receiver._send_rtcp_pli(meter.ssrc)
        await _until(lambda: caller.video.keyframe_jumps == 1)
    finally:
        await caller.close()
        await callee.close()


@pytest.mark.parametrize("frame_size", range(1280, 1310))
def test_the_send_time_rides_whole_in_a_frames_last_packet(frame_size):
    # A VP8 chunk holds 1296 bytes: frames of these sizes end in a chunk shorter than the
    # marker, which must not be split across two packets.
    source = PacketSource("video", "vp8", [(b"\x00" * frame_size, True)])
    now = time.monotonic()
    payloads = source._packetise(b"\x10" * frame_size, now)
    assert [last for _, last in payloads] == [False] * (len(payloads) - 1) + [True]
    assert read_marker(payloads[-1][0]) == pytest.approx(now, abs=1e-6)
    assert sum(len(p) for p, _ in payloads) > frame_size + MARK_LEN


def _video_packet(sequence: int, end_of_frame: bool, sent: float | None) -> bytes:
    payload = b"\x90\x80\x00\x01" + b"\x55" * 200 + (marker(sent) if sent is not None else b"")
    return rtp_packet(96, end_of_frame, sequence, sequence // 2 * 3000, 1234, b"", payload)


def _started_meter() -> StreamMeter:
    meter = StreamMeter("video", "vp8", receiver=None)  # type: ignore[arg-type]
    meter.first_frame_at = time.monotonic()  # past the first-keyframe decode
    return meter


def test_a_lost_packet_loses_the_frame_it_falls_in():
    meter = _started_meter()
    for sequence, end, sent in ((10, False, None), (11, True, 1.0),   # frame 1, whole
                                (12, False, None), (14, True, 2.0),   # frame 2, 13 lost
                                (15, False, None), (16, True, 3.0)):  # frame 3, whole
        meter.on_packet(_video_packet(sequence, end, sent))
    assert [sent for sent, _ in meter.frames] == [1.0, 3.0]
    assert (meter.lost_packets, meter.broken_frames, meter.packets) == (1, 1, 6)


def test_a_repeated_packet_counts_its_frame_once():
    meter = _started_meter()
    for sequence, end, sent in ((1, False, None), (2, True, 1.0), (2, True, 1.0),
                                (3, False, None), (4, True, 2.0)):
        meter.on_packet(_video_packet(sequence, end, sent))
    assert [sent for sent, _ in meter.frames] == [1.0, 2.0]
    assert (meter.late_packets, meter.lost_packets) == (1, 0)


def test_frames_without_markers_are_counted_at_their_last_packet():
    # The transcoding relay re-encodes, so its frames carry no send time.
    meter = _started_meter()
    for sequence, end in ((1, False), (2, True), (3, False), (4, False), (5, True)):
        meter.on_packet(_video_packet(sequence, end, None))
    assert [sent for sent, _ in meter.frames] == [None, None]
