"""Known media for the recorder tests: encoded once per session with PyAV.

Video is a moving gradient (so inter-frames are not empty), Opus is a 440 Hz
sine in 20 ms frames. Packets carry what the media layer hands the recorder:
pts from 0 in 1/90000 (video) or 1/48000 (audio), the keyframe flag, and a
wall-clock arrival time with a little jitter.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from recorder.participant_recording import ParticipantRecording

T0 = 1_750_000_000.0  # a wall-clock arrival origin (epoch seconds)
VIDEO_TB = Fraction(1, 90000)
AUDIO_TB = Fraction(1, 48000)


@dataclass(frozen=True, slots=True)
class FedPacket:
    kind: str
    codec: str
    data: bytes
    pts: int
    time_base: Fraction
    keyframe: bool
    arrival: float


@functools.cache
def encoded_video(
    codec: str, width: int, height: int, frames: int, gop: int = 60
) -> tuple[tuple[bytes, bool], ...]:
    """(payload, keyframe) per frame; H.264 as Annex-B with SPS/PPS on every IDR."""
    context = av.CodecContext.create("libvpx" if codec == "vp8" else "libx264", "w")
    assert isinstance(context, av.VideoCodecContext)
    context.width = width
    context.height = height
    context.pix_fmt = "yuv420p"
    context.time_base = Fraction(1, 30)
    context.framerate = Fraction(30)
    context.gop_size = gop
    context.bit_rate = 1_000_000
    context.thread_count = 1  # two cores are shared with the muxer threads under test
    if codec == "vp8":
        context.options = {"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0"}
    else:
        context.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx + yy).astype(np.uint16)
    rows = np.arange(height)
    chroma = np.full((height // 2, width), 128, np.uint8)
    out: list[tuple[bytes, bool]] = []
    for i in range(frames):
        luma = ((base + 4 * i) % 256).astype(np.uint8)
        luma[(rows // 40 + i // 5) % 2 == 0] //= 2  # moving stripes: real motion
        frame = av.VideoFrame.from_ndarray(np.vstack([luma, chroma]), format="yuv420p")
        frame.pts = i
        out.extend((bytes(p), p.is_keyframe) for p in context.encode(frame))
    out.extend((bytes(p), p.is_keyframe) for p in context.encode(None))
    assert len(out) == frames
    return tuple(out)


@functools.cache
def encoded_opus(frames: int) -> tuple[bytes, ...]:
    context = av.CodecContext.create("libopus", "w")
    assert isinstance(context, av.AudioCodecContext)
    context.sample_rate = 48000
    context.layout = "stereo"
    context.format = "s16"
    context.bit_rate = 32000
    out: list[bytes] = []
    for j in range(frames):
        t = (np.arange(960) + j * 960) / 48000
        mono = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        frame.pts = j * 960
        out.extend(bytes(p) for p in context.encode(frame))
    out.extend(bytes(p) for p in context.encode(None))
    return tuple(out[:frames])


def video_packets(
    codec: str,
    width: int,
    height: int,
    seconds: float,
    *,
    start: float = 0.0,
    gop: int = 60,
    seed: int = 1,
) -> list[FedPacket]:
    frames = round(seconds * 30)
    rng = random.Random(seed)
    return [
        FedPacket(
            "video",
            codec,
            data,
            i * 3000,
            VIDEO_TB,
            keyframe,
            T0 + start + i / 30 + rng.uniform(0, 0.005),
        )
        for i, (data, keyframe) in enumerate(encoded_video(codec, width, height, frames, gop))
    ]


def audio_packets(seconds: float, *, start: float = 0.0, seed: int = 2) -> list[FedPacket]:
    frames = round(seconds * 50)
    rng = random.Random(seed)
    return [
        FedPacket(
            "audio",
            "opus",
            data,
            j * 960,
            AUDIO_TB,
            True,
            T0 + start + j * 0.02 + rng.uniform(0, 0.005),
        )
        for j, data in enumerate(encoded_opus(frames))
    ]


def interleave(*streams: Iterable[FedPacket]) -> list[FedPacket]:
    merged = [p for stream in streams for p in stream]
    merged.sort(key=lambda p: p.arrival)
    return merged


def shift(packets: Sequence[FedPacket], *, seconds: float = 0.0, pts: int = 0) -> list[FedPacket]:
    return [replace(p, arrival=p.arrival + seconds, pts=p.pts + pts) for p in packets]


def feed(recording: ParticipantRecording, packets: Iterable[FedPacket]) -> int:
    accepted = 0
    for p in packets:
        accepted += recording.add_frame(
            p.kind, p.codec, p.data, p.pts, p.time_base, p.keyframe, p.arrival
        )  # type: ignore[arg-type]
    return accepted


def ffprobe(path: Path, *extra: str) -> dict[str, Any]:
    """ffprobe's JSON view of a file; fails the test if ffprobe reports any error."""
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            *extra,
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def stream_of(probe: dict[str, Any], codec_type: str) -> dict[str, Any]:
    matches = [s for s in probe["streams"] if s["codec_type"] == codec_type]
    assert len(matches) == 1, probe["streams"]
    return matches[0]


def demuxed_payloads(path: Path, codec_type: str) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == codec_type)
        return [bytes(p) for p in container.demux(stream) if p.size]


@pytest.fixture(scope="session", autouse=True)
def _ffprobe_available() -> None:
    if shutil.which("ffprobe") is None:
        pytest.fail("ffprobe is required by the recorder tests (apt-get install ffmpeg)")


class MediaKit:
    """Helpers handed to tests as one fixture (conftest modules are not importable)."""

    T0 = T0
    FedPacket = FedPacket
    video_packets = staticmethod(video_packets)
    audio_packets = staticmethod(audio_packets)
    interleave = staticmethod(interleave)
    shift = staticmethod(shift)
    feed = staticmethod(feed)
    ffprobe = staticmethod(ffprobe)
    stream_of = staticmethod(stream_of)
    demuxed_payloads = staticmethod(demuxed_payloads)
    encoded_video = staticmethod(encoded_video)


@pytest.fixture(scope="session")
def media() -> MediaKit:
    return MediaKit()


RecordingFactory = Callable[..., ParticipantRecording]
