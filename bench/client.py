"""Load-generating clients: aiortc peers sending pre-encoded media and measuring what returns.

One process runs several consults (both parties of each). Nothing is encoded or decoded on
the steady path:

* sending: a ``PacketTrack`` yields ``av.Packet`` s from a pre-encoded clip, which aiortc's
  ``RTCRtpSender`` only re-packetises. Every frame carries a 20-byte marker with its send
  time (``SZBT`` + microseconds of ``time.monotonic()`` as hex; the clock is system-wide, so
  it compares across processes): appended to a VP8 frame, as an H.264 filler-data NAL
  (type 12, ignored by decoders), as Opus padding (code-3 packet, RFC 6716 §3.2.5 — the
  decoder must accept any padding value).
* receiving: the receiver's jitter buffer ``add`` is wrapped. The arrival time of a frame is
  that of the packet carrying its marker (the frame's last packet), taken before the client's
  own jitter buffer, so the figure is network + server. Complete frames are counted when the
  jitter buffer releases them and then dropped (never decoded), except the first keyframe
  of each stream, which is decoded with PyAV to time "join -> first decoded remote frame".
* a PLI from the server makes the clip jump back to its keyframe (a browser would encode one).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

MAGIC = b"SZBT"
MARK_LEN = 20


def marker(now: float) -> bytes:
    return MAGIC + b"%016x" % int(now * 1e6)


def read_marker(data: bytes) -> float | None:
    tail = data[-MARK_LEN:]
    if len(tail) == MARK_LEN and tail[:4] == MAGIC:
        try:
            return int(tail[4:], 16) / 1e6
        except ValueError:
            return None
    return None


def with_marker(codec: str, data: bytes, now: float) -> bytes:
    mark = marker(now)
    if codec == "vp8":
        return data + mark
    if codec == "h264":
        return data + b"\x00\x00\x00\x01\x0c" + mark
    # opus: single frame (code 0) -> code 3, CBR, one frame, padding = marker
    toc = (data[0] & 0xFC) | 3
    return bytes((toc, 0x41, MARK_LEN)) + data[1:] + mark


class PacketTrack(MediaStreamTrack):
    def __init__(self, kind: str, codec: str, clip: list[Any]) -> None:
        super().__init__()
        self.kind = kind
        self.codec = codec
        self.clip = clip
        if kind == "video":
            self.interval, self.step, self.time_base = 1 / 30, 3000, fractions.Fraction(1, 90000)
        else:
            self.interval, self.step, self.time_base = 0.02, 960, fractions.Fraction(1, 48000)
        self.n = 0
        self.pos = 0
        self.start: float | None = None
        self.sent_at: list[float] = []
        self.sending = True
        self.resume = asyncio.Event()
        self.keyframe_wanted = False
        self.last_keyframe_jump = 0.0
        self.keyframe_jumps = 0

    def request_keyframe(self) -> None:
        self.keyframe_wanted = True

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if not self.sending:
            await self.resume.wait()
            raise MediaStreamError
        now = time.monotonic()
        if self.start is None:
            self.start = now
        else:
            target = self.start + self.n * self.interval
            if target > now:
                await asyncio.sleep(target - now)
                now = time.monotonic()
            elif now - target > 1.0:  # fell far behind (overload): do not burst
                self.start = now - self.n * self.interval
        if self.kind == "video":
            if self.pos % len(self.clip) == 0:
                self.keyframe_wanted = False  # this frame is a keyframe anyway
            elif self.keyframe_wanted and now - self.last_keyframe_jump > 0.5:
                # A request inside the 0.5 s stays pending (an encoder defers, never forgets).
                self.pos = 0
                self.last_keyframe_jump = now
                self.keyframe_jumps += 1
                self.keyframe_wanted = False
            data = self.clip[self.pos % len(self.clip)][0]
        else:
            data = self.clip[self.pos % len(self.clip)]
        self.pos += 1
        packet = av.Packet(with_marker(self.codec, data, now))
        packet.pts = self.n * self.step
        packet.dts = packet.pts
        packet.time_base = self.time_base
        self.n += 1
        self.sent_at.append(now)
        return packet


class Meter:
    """Wraps one receiver's jitter buffer: counts, timestamps, and swallows frames."""

    def __init__(self, receiver: Any, kind: str, codec: str, party: Party) -> None:
        self.kind, self.codec, self.party = kind, codec, party
        self.buffer = receiver._RTCRtpReceiver__jitter_buffer  # aiortc private (bench only)
        self.orig_add = self.buffer.add
        self.buffer.add = self.add
        self.arrivals: dict[float, float] = {}  # marker send time -> arrival
        self.frames: list[tuple[float | None, float]] = []  # (send time or None, arrival)
        self.seen: set[float] = set()
        self.first_frame_at: float | None = None
        self.decoder: Any = None
        self.last_pli = 0.0

    def add(self, packet: Any) -> tuple[bool, Any]:
        now = time.monotonic()
        data = packet._data
        sent = read_marker(data) if data else None
        if sent is not None and sent not in self.arrivals:
            self.arrivals[sent] = now
        pli, frame = self.orig_add(packet)
        if frame is not None:
            fdata = frame.data
            fsent = read_marker(fdata)
            if fsent is None:
                self.frames.append((None, now))
            elif fsent not in self.seen:
                self.seen.add(fsent)
                self.frames.append((fsent, self.arrivals.pop(fsent, now)))
            if self.kind == "video" and self.first_frame_at is None:
                self._try_decode(fdata)
                if self.first_frame_at is None and now - self.last_pli > 0.3:
                    # undecodable start: ask for a keyframe, as a browser does
                    self.last_pli = now
                    pli = True
            elif self.kind == "audio" and self.first_frame_at is None:
                self.first_frame_at = now
        return pli, None

    def _try_decode(self, data: bytes) -> None:
        if self.decoder is None:
            self.decoder = av.CodecContext.create("libvpx" if self.codec == "vp8" else "h264", "r")
        try:
            frames = self.decoder.decode(av.Packet(data))
        except av.FFmpegError:
            return
        if frames:
            self.first_frame_at = time.monotonic()
            self.decoder = None


class Party:
    """One browser: one RTCPeerConnection, pre-encoded camera + microphone."""

    def __init__(self, name: str, codec: str, clip: dict[str, list[Any]]) -> None:
        self.name = name
        self.codec = codec
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.audio = PacketTrack("audio", "opus", clip["audio"])
        self.video = PacketTrack("video", codec, clip["video"])
        at = self.pc.addTransceiver(self.audio, direction="sendrecv")
        vt = self.pc.addTransceiver(self.video, direction="sendrecv")
        caps = RTCRtpSender.getCapabilities("video").codecs
        want = "video/VP8" if codec == "vp8" else "video/H264"
        prefs = [c for c in caps if c.mimeType == want
                 and (codec == "vp8" or c.parameters.get("profile-level-id") == "42e01f")]
        prefs += [c for c in caps if c.mimeType == "video/rtx"]
        vt.setCodecPreferences(prefs)
        acaps = RTCRtpSender.getCapabilities("audio").codecs
        at.setCodecPreferences([c for c in acaps if c.mimeType == "audio/opus"])
        vt.sender._send_keyframe = self.video.request_keyframe  # PLI -> jump to keyframe
        self.meters = {"audio": Meter(at.receiver, "audio", "opus", self),
                       "video": Meter(vt.receiver, "video", codec, self)}
        self.join_sent_at: float | None = None

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def stop_sending(self) -> None:
        self.audio.sending = False
        self.video.sending = False

    async def close(self) -> None:
        self.audio.resume.set()
        self.video.resume.set()
        await self.pc.close()


def _window(times: list[float], t0: float, t1: float) -> int:
    return sum(1 for t in times if t0 <= t < t1)


def pair_figures(src: Party, dst: Party, t0: float, t1: float) -> dict[str, Any]:
    """What ``src`` sent in [t0, t1) and what ``dst`` got of it."""
    out: dict[str, Any] = {}
    for kind in ("audio", "video"):
        track = src.audio if kind == "audio" else src.video
        meter = dst.meters[kind]
        sent = _window(track.sent_at, t0, t1)
        marked = [(s, a) for s, a in meter.frames if s is not None]
        if marked:
            got = [(s, a) for s, a in marked if t0 <= s < t1]
            received = len(got)
            delays = [(a - s) * 1000 for s, a in got]
        else:  # markers stripped (transcoding): count by arrival time
            received = _window([a for _, a in meter.frames], t0, t1)
            delays = []
        out[kind] = {"sent": sent, "received": received, "delays_ms": delays,
                     "sent_total": len(track.sent_at), "received_total": len(meter.frames),
                     "first_frame_s": (meter.first_frame_at - dst.join_sent_at)
                     if meter.first_frame_at and dst.join_sent_at else None}
    out["keyframe_jumps"] = src.video.keyframe_jumps
    vm = dst.meters["video"]
    out["video_trace"] = [(round(s - t0, 3), round((a - s) * 1000, 1)) for s, a in vm.frames
                          if s is not None and t0 <= s < t1][:400]
    return out
