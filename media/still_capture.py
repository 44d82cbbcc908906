"""Decode the guardian's current video frame from the encoded packets we forward.

The forwarding path carries encoded ``av.Packet``s (VP8, or H.264 in Annex-B
form as aiortc's depayloader produces it) and never decodes.  When the
physician asks for a photo and the guardian's full-resolution still is late or
missing, the caller hands this module the packets from the last keyframe up to
now and gets back the newest picture, as a BGR array and as lossless PNG.

Everything here is synchronous and CPU-bound: run it in an executor
(``loop.run_in_executor(None, decode_latest, packets, codec)``), never on the
event loop.  Each call builds its own ``av.CodecContext`` because a codec
context must not be shared between threads (PyAV: concurrent ``decode`` on one
context corrupts FFmpeg's state), and aiortc's module-global decoder factory is
replaced in packet mode (see shared/MEDIA-FACTS.md).

Cost: decoding is linear in the number of packets since the keyframe
(~1-2 ms per 640x480 frame); browsers send keyframes rarely, so a caller that
buffers a long group of pictures should request a keyframe upstream when the
capture starts and decode from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import cast

import av
import cv2
import numpy as np
import numpy.typing as npt

SUPPORTED_CODECS = ("vp8", "h264")

# Fast PNG compression: the PNG is a lossless record copy, written once; level 3
# is ~2x smaller than OpenCV's default of 1 at a modest cost.
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]


class StillCaptureError(Exception):
    """Base of the errors of this module."""


class NoKeyframe(StillCaptureError):
    """The packet sequence is empty or does not start with a decodable keyframe."""


class UnsupportedCodec(StillCaptureError):
    pass


class StillDecodeError(StillCaptureError):
    """The decoder refused the data, or produced no picture."""


@dataclass(frozen=True)
class StillFrame:
    """The newest decoded picture.  ``array`` is BGR uint8 (OpenCV order)."""

    width: int
    height: int
    png: bytes = field(repr=False)
    array: npt.NDArray[np.uint8] = field(repr=False, compare=False)
    codec: str
    frames_decoded: int
    pts: int | None = None
    time_base: Fraction | None = None


def normalise_codec(codec: str) -> str:
    """'VP8', 'video/VP8', 'h264', 'video/H264' -> 'vp8' / 'h264'."""
    name = codec.strip().lower().removeprefix("video/")
    if name not in SUPPORTED_CODECS:
        raise UnsupportedCodec(f"cannot decode stills from {codec!r}; only VP8 and H.264")
    return name


def _annexb_nal_types(data: bytes) -> set[int]:
    """NAL unit types in an Annex-B access unit (start codes 00 00 01 / 00 00 00 01)."""
    types: set[int] = set()
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        types.add(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def is_keyframe(data: bytes, codec: str) -> bool:
    """Read the bitstream, not ``Packet.is_keyframe``: the flag is set by
    whoever built the packet, and a wrong flag would give a grey still.

    VP8 (RFC 6386 9.1): frame tag bit 0 is 0 for a key frame, followed by the
    start code 9d 01 2a.  H.264: the access unit holds an IDR slice (NAL 5) and
    the parameter sets it needs (SPS 7, PPS 8) - browsers send them together.
    """
    codec = normalise_codec(codec)
    if codec == "vp8":
        return len(data) >= 10 and data[0] & 1 == 0 and data[3:6] == b"\x9d\x01\x2a"
    return {5, 7, 8} <= _annexb_nal_types(data)


class StillDecoder:
    """Single-use decoder: ``feed`` packets from a keyframe on, then ``finish``.

    Not thread-safe; one instance per capture, used from one executor thread.
    """

    def __init__(self, codec: str) -> None:
        self.codec = normalise_codec(codec)
        # A fresh context per capture (see module docstring); the codec name is
        # a runtime string, so tell the type checker it is a video decoder.
        self._ctx = cast(av.VideoCodecContext, av.CodecContext.create(self.codec, "r"))
        self._last: av.VideoFrame | None = None
        self._last_pts: int | None = None
        self._last_time_base: Fraction | None = None
        self._frames = 0
        self._packets = 0
        self._finished = False

    @property
    def frames_decoded(self) -> int:
        return self._frames

    def feed(self, packet: av.Packet) -> None:
        if self._finished:
            raise RuntimeError("StillDecoder is single-use: finish() was called")
        data = bytes(packet)
        if self._packets == 0 and not is_keyframe(data, self.codec):
            raise NoKeyframe(f"the first {self.codec} packet is not a keyframe")
        # Decode a copy: the forwarding path shares packet objects with the
        # sender and the recorder (whose mux rebases timestamps in place on the
        # event-loop thread while we run in an executor).
        copy = av.Packet(data)
        pts, time_base = packet.pts, packet.time_base
        copy.pts = pts
        if time_base is not None:
            copy.time_base = time_base
        self._packets += 1
        try:
            frames = self._ctx.decode(copy)
        except av.FFmpegError as exc:
            raise StillDecodeError(f"{self.codec} decoder refused packet {self._packets}") from exc
        self._keep(frames)

    def _keep(self, frames: Iterable[av.VideoFrame]) -> None:
        for frame in frames:
            self._frames += 1
            self._last = frame
            self._last_pts = frame.pts
            self._last_time_base = frame.time_base

    def finish(self) -> StillFrame:
        """Drain the decoder and convert the newest picture (BGR + PNG)."""
        if self._finished:
            raise RuntimeError("StillDecoder is single-use: finish() was called")
        self._finished = True
        if self._packets == 0:
            raise NoKeyframe("no packets to decode")
        try:
            self._keep(self._ctx.decode(None))  # flush frames held for reordering
        except av.FFmpegError as exc:
            raise StillDecodeError(f"{self.codec} decoder failed while flushing") from exc
        if self._last is None:
            raise StillDecodeError(f"{self._packets} {self.codec} packets gave no picture")
        array = np.ascontiguousarray(self._last.to_ndarray(format="bgr24"), dtype=np.uint8)
        ok, png = cv2.imencode(".png", array, _PNG_PARAMS)
        if not ok:  # pragma: no cover - OpenCV cannot fail on a valid BGR array
            raise StillDecodeError("PNG encoding failed")
        return StillFrame(
            width=int(array.shape[1]),
            height=int(array.shape[0]),
            png=png.tobytes(),
            array=array,
            codec=self.codec,
            frames_decoded=self._frames,
            pts=self._last_pts,
            time_base=self._last_time_base,
        )


def decode_latest(packets: Sequence[av.Packet], codec: str) -> StillFrame:
    """Decode ``packets`` (starting at a keyframe) and return the newest picture."""
    if not packets:
        raise NoKeyframe("no packets to decode")
    decoder = StillDecoder(codec)
    for packet in packets:
        decoder.feed(packet)
    return decoder.finish()
