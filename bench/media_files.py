"""Pre-encoded media for the load clients, generated once with PyAV and cached.

VP8 640x480@30 (~1.3 Mbps), H.264 constrained baseline 1280x720@30 (~2.5 Mbps), Opus 20 ms.
Each clip is 10 s (shorter on request) with a single keyframe at its start: the clients loop
it (a loop wraps at a keyframe) and jump back to the start when asked for a keyframe (PLI).
"""

from __future__ import annotations

import fractions
import pickle
from pathlib import Path

import av
import numpy as np

CACHE = Path(__file__).resolve().parent / ".media"
FPS = 30
SECONDS = 10

PROFILES = {
    "vp8": {"codec": "libvpx", "size": (640, 480), "bit_rate": 1_300_000},
    "h264": {"codec": "libx264", "size": (1280, 720), "bit_rate": 2_500_000},
}


def _frames(width: int, height: int, n: int):
    """Camera-like content: a noisy texture that drifts and a moving bar, so the encoder
    spends its bitrate on every frame."""
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 255, (height + 64, width + 64, 3), dtype=np.uint8)
    for i in range(n):
        dx, dy = (i * 2) % 64, (i // 2) % 64
        img = texture[dy:dy + height, dx:dx + width].copy()
        # smooth a little: pure noise is unlike a camera
        img = ((img.astype(np.uint16) + np.roll(img, 1, axis=1)) // 2).astype(np.uint8)
        x = (i * width // (FPS * 2)) % width
        img[:, x:x + width // 16] = (255, 255, 255)
        yield av.VideoFrame.from_ndarray(img, format="rgb24")


def encode_video(profile: str, seconds: float = SECONDS) -> list[tuple[bytes, bool]]:
    p = PROFILES[profile]
    frames = round(FPS * seconds)
    width, height = p["size"]
    ctx = av.CodecContext.create(p["codec"], "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.framerate = fractions.Fraction(FPS, 1)
    ctx.bit_rate = p["bit_rate"]
    ctx.gop_size = frames
    if profile == "vp8":
        ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                       "auto-alt-ref": "0", "keyint_min": str(frames)}
    else:
        ctx.profile = "Constrained Baseline"
        ctx.options = {"preset": "veryfast", "tune": "zerolatency", "level": "31",
                       "bf": "0", "sc_threshold": "0",
                       "x264-params": f"keyint={frames}:min-keyint={frames}:scenecut=0:repeat-headers=1"}
    out: list[tuple[bytes, bool]] = []
    for i, frame in enumerate(_frames(width, height, frames)):
        frame.pts = i
        frame.time_base = ctx.time_base
        for packet in ctx.encode(frame.reformat(format="yuv420p")):
            out.append((bytes(packet), bool(packet.is_keyframe)))
    for packet in ctx.encode(None):
        out.append((bytes(packet), bool(packet.is_keyframe)))
    assert out[0][1], "the clip must start with a keyframe"
    return out


def encode_opus(seconds: float = SECONDS) -> list[bytes]:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = 48000
    ctx.layout = "stereo"
    ctx.format = "s16"
    ctx.bit_rate = 32000
    ctx.time_base = fractions.Fraction(1, 48000)
    t = np.arange(round(48000 * seconds)) / 48000
    tone = (np.sin(2 * np.pi * 440 * t) * 6000 + np.random.default_rng(1).normal(0, 500, t.size))
    pcm = np.repeat(tone.astype(np.int16)[None, :], 2, axis=0).T.reshape(1, -1)
    out: list[bytes] = []
    for i in range(0, t.size, 960):
        chunk = np.ascontiguousarray(pcm[:, i * 2:(i + 960) * 2])
        if chunk.shape[1] < 960 * 2:
            break
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = i
        frame.time_base = ctx.time_base
        out.extend(bytes(p) for p in ctx.encode(frame))
    return out


def load(profile: str) -> dict[str, list]:
    """{'video': [(bytes, keyframe)], 'audio': [bytes]} for a profile, cached on disk."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{profile}.pickle"
    if path.exists():
        return pickle.loads(path.read_bytes())
    clip = {"video": encode_video(profile), "audio": encode_opus()}
    path.write_bytes(pickle.dumps(clip))
    return clip


if __name__ == "__main__":
    for name in PROFILES:
        clip = load(name)
        v = clip["video"]
        kbps = sum(len(b) for b, _ in v) * 8 / SECONDS / 1000
        print(name, len(v), "frames", round(kbps), "kbps video;",
              len(clip["audio"]), "opus packets", clip["audio"][0][0])
