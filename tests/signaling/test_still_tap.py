"""The fallback still: the tap keeps each party's latest keyframe and nothing else."""

from __future__ import annotations

import fractions
import gc

import av
import numpy as np
import pytest

from media.encoded_frame import EncodedFrame
from server.photos.still_tap import StillTap, StillUnavailable

TIME_BASE = fractions.Fraction(1, 90000)


def _vp8_frames(bgr: tuple[int, int, int], count: int) -> list[EncodedFrame]:
    """A keyframe of a solid colour, then ``count - 1`` inter frames of it."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 160, 120, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    ctx.options = {"deadline": "realtime", "lag-in-frames": "0", "auto-alt-ref": "0"}
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    image[:, :] = bgr
    packets: list[av.Packet] = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    return [EncodedFrame(kind="video", codec="vp8", data=bytes(p), pts=i * 3000,
                         time_base=TIME_BASE, keyframe=bool(p.is_keyframe), source=1,
                         arrival=0.0) for i, p in enumerate(packets)]


@pytest.fixture(scope="module")
def red() -> list[EncodedFrame]:
    return _vp8_frames((0, 0, 220), 30)


@pytest.fixture(scope="module")
def blue() -> list[EncodedFrame]:
    return _vp8_frames((220, 0, 0), 1)


def _colour(still) -> tuple[int, int, int]:
    return tuple(int(c) for c in still.array.reshape(-1, 3).mean(axis=0))


async def test_a_capture_decodes_the_fresh_keyframe_the_request_brought(red, blue):
    tap = StillTap()
    for frame in red:
        tap.on_frame("guardian", frame)
    still = await tap.capture("guardian", lambda: tap.on_frame("guardian", blue[0]))
    blue_, green, red_ = _colour(still)
    assert blue_ > 180 and red_ < 40 and green < 40


async def test_without_a_fresh_keyframe_the_latest_one_kept_is_the_still(red):
    tap = StillTap()
    for frame in red:
        tap.on_frame("guardian", frame)
    still = await tap.capture("guardian", lambda: None, within=0.05)
    blue_, _, red_ = _colour(still)
    assert red_ > 180 and blue_ < 40


async def test_no_video_no_still(red):
    tap = StillTap()
    tap.on_frame("physician", red[0])
    with pytest.raises(StillUnavailable):
        await tap.capture("guardian", lambda: None, within=0.05)


def _frames_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, EncodedFrame))


def test_inter_frames_are_not_kept_however_long_until_the_next_keyframe(red):
    tap = StillTap()
    tap.on_frame("guardian", red[0])
    before = _frames_alive()
    for i in range(200):  # each made here and dropped by the caller, as the media path does
        tap.on_frame("guardian", EncodedFrame(
            kind="video", codec="vp8", data=red[1 + i % 29].data, pts=(i + 1) * 3000,
            time_base=TIME_BASE, keyframe=False, source=1, arrival=0.0))
    assert _frames_alive() == before
