"""Picture sizes read from keyframe headers match what the encoder was told."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.video_bitstream import (
    BitstreamError,
    FrameSize,
    announced_size,
    h264_nal_units,
    h264_sps_frame_size,
    h264_starting_keyframe_size,
    starting_keyframe_size,
    vp8_keyframe_size,
)


def first_packet(encoder: str, width: int, height: int, pix_fmt: str, **options: str) -> bytes:
    context = av.CodecContext.create(encoder, "w")
    assert isinstance(context, av.VideoCodecContext)
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base = Fraction(1, 30)
    context.options = options
    frame = av.VideoFrame.from_ndarray(
        np.zeros((height, width, 3), np.uint8), format="rgb24"
    ).reformat(format=pix_fmt)
    frame.pts = 0
    packets = [bytes(p) for p in context.encode(frame)] + [bytes(p) for p in context.encode(None)]
    return packets[0]


@pytest.mark.parametrize(
    ("width", "height", "profile", "pix_fmt"),
    [
        (640, 480, "baseline", "yuv420p"),
        (1280, 720, "baseline", "yuv420p"),
        (640, 360, "baseline", "yuv420p"),  # 368 coded rows, cropped to 360
        (1920, 1080, "main", "yuv420p"),
        (320, 180, "high", "yuv420p"),
        (352, 288, "high444", "yuv444p"),  # chroma_format_idc 3: other crop units
        (318, 238, "high422", "yuv422p"),  # odd crops with 4:2:2
    ],
)
def test_h264_sps_gives_the_cropped_picture_size(
    width: int, height: int, profile: str, pix_fmt: str
) -> None:
    data = first_packet(
        "libx264", width, height, pix_fmt, preset="ultrafast", profile=profile, tune="zerolatency"
    )
    assert h264_starting_keyframe_size(data) == FrameSize(width, height)
    assert announced_size("h264", data) == FrameSize(width, height)


@pytest.mark.parametrize(("width", "height"), [(640, 480), (321, 241), (1280, 720)])
def test_vp8_keyframe_header_gives_the_picture_size(width: int, height: int) -> None:
    data = first_packet("libvpx", width, height, "yuv420p", deadline="realtime")
    assert vp8_keyframe_size(data) == FrameSize(width, height)
    assert starting_keyframe_size("vp8", data) == FrameSize(width, height)


def test_inter_frames_and_parameterless_idrs_cannot_start_a_track(media: Any) -> None:
    vp8 = media.encoded_video("vp8", 640, 480, 30, 60)
    assert vp8_keyframe_size(vp8[1][0]) is None
    h264 = media.encoded_video("h264", 640, 480, 30, 60)
    assert h264_starting_keyframe_size(h264[1][0]) is None
    idr_only = b"".join(
        b"\x00\x00\x00\x01" + unit for unit in h264_nal_units(h264[0][0]) if unit[0] & 0x1F == 5
    )
    assert h264_starting_keyframe_size(idr_only) is None


def test_annex_b_split_handles_three_and_four_byte_start_codes() -> None:
    data = b"\x00\x00\x00\x01\x67\xaa\x00\x00\x01\x68\xbb\x00\x00\x00\x00\x01\x65\xcc\x00"
    assert h264_nal_units(data) == [b"\x67\xaa", b"\x68\xbb", b"\x65\xcc\x00"]


def test_broken_headers_raise_a_bitstream_error() -> None:
    with pytest.raises(BitstreamError):
        vp8_keyframe_size(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")  # no start code
    with pytest.raises(BitstreamError):
        h264_sps_frame_size(b"\x67\x42")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_escape_as_anything_but_bitstream_error(payload: bytes) -> None:
    for parse in (
        lambda: h264_sps_frame_size(b"\x67" + payload),
        lambda: starting_keyframe_size("vp8", payload),
        lambda: starting_keyframe_size("h264", b"\x00\x00\x01\x67" + payload),
    ):
        try:
            size = parse()
        except BitstreamError:
            continue
        assert size is None or (size.width > 0 and size.height > 0)
