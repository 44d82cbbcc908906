"""The benchmark's load client (bench/client.py) counts what a call really carried.

The harness's figures (loss, delay, join -> first frame) are only as good as this client,
which sends and receives RTP through shouzhen's own fast paths rather than aiortc's: these
tests hold it to a real call between two of its parties, and to the packets it is told to
count.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
import pytest

from bench.client import MARK_LEN, PacketSource, Party, StreamMeter, marker, read_marker
from media.rtp_writer import rtp_packet

FPS = 30


def _vp8_clip(frames: int = 45) -> list[tuple[bytes, bool]]:
    """A small VP8 clip that starts with its only keyframe, like bench/media_files.py's."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 320, 240, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.framerate = fractions.Fraction(FPS, 1)
    ctx.bit_rate = 600_000
    ctx.gop_size = frames
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                   "auto-alt-ref": "0", "keyint_min": str(frames)}
    rng = np.random.default_rng(5)
    texture = rng.integers(0, 255, (240, 320 + frames, 3), dtype=np.uint8)
    out: list[tuple[bytes, bool]] = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, i:i + 320]),
                                           format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = i, ctx.time_base
        out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    assert out[0][1]
    return out


def _opus_clip(packets: int = 50) -> list[bytes]:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "s16"
    ctx.bit_rate = 32000
    ctx.time_base = fractions.Fraction(1, 48000)
    out: list[bytes] = []
    for i in range(packets):
        tone = (np.sin(np.arange(960) / 10) * 5000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2)[None, :], format="s16",
                                           layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, ctx.time_base
        out += [bytes(p) for p in ctx.encode(frame)]
    return out


@pytest.fixture(scope="module")
def clip() -> dict[str, list]:
    return {"video": _vp8_clip(), "audio": _opus_clip()}


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
