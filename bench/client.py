"""Load-generating clients: aiortc peers whose RTP takes the shortest way in and out.

One process runs several consults (both parties of each). aiortc negotiates each party's
call (SDP, ICE, DTLS, RTCP: Sender and Receiver Reports, PLI, NACK answers); the media
packets themselves never go through aiortc's per-packet Python, which cost the generator
as much CPU as the server it loaded and capped the sweep at N≈8 on its one core:

* sending: each track's frames come from a pre-encoded clip (``PacketSource``), are
  packetised as a browser would (aiortc's own VP8 / H.264 packetisers; an Opus frame is
  its packet) and go out through shouzhen's ``RtpLeg`` (header written with ``struct``,
  SRTP, ``sendto`` in one call; NACKs answered from its history). Every frame carries a
  20-byte marker with its send time (``SZBT`` + microseconds of ``time.monotonic()`` as
  hex; the clock is system-wide, so it compares across processes): appended to a VP8
  frame, as an H.264 filler-data NAL (type 12, ignored by decoders), as Opus padding
  (code-3 packet, RFC 6716 §3.2.5 — the decoder must accept any padding value). A PLI
  makes the clip jump back to its keyframe, as a browser would encode one.
* receiving: shouzhen's ``DirectSrtp`` unprotects each datagram where the socket hands it
  over, and ``ReceivedRtp`` reads only what the figures need: the sequence number (a gap
  is lost packets, and the video frame it falls in is counted lost: this client sends no
  NACK, so nothing repairs it), the marker bit (a video frame's last packet) and the
  marker at the payload's end. A frame's arrival time is that of the packet carrying its
  marker, before any jitter buffer, so the delay figure is network + server. Until the
  first keyframe of a video stream has been decoded (PyAV), its frames are depayloaded and
  decoded to time "join -> first decoded remote frame"; an undecodable start asks for a
  keyframe, as a browser does.
* feedback: like a browser without transport-cc, each party sends a REMB for every video
  stream it receives once a second (``REMB_BITRATE``, above either clip's rate: what a
  browser on an unloaded path reports), which a server relays to the sender.

A packet counted here has been through the server's SRTP, forwarding and the kernel on
both sides; nothing is decoded on the steady path.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import SessionDescription

from media.aiortc_bridge import client_side
from media.aiortc_bridge.receive import remb_packet
from media.aiortc_bridge.receive_lane import RtpInput
from media.aiortc_bridge.run_now import run_now
from media.aiortc_bridge.send import forward_rtp
from media.aiortc_bridge.srtp import DirectSrtp
from media.rtp.reader import parse_rtp
from media.rtp.writer import RtpPayloads

MAGIC = b"SZBT"
MARK_LEN = 20
REMB_BITRATE = 5_000_000
"""What each party reports for every video stream it receives, once a second (bit/s)."""


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
    """An H.264 or Opus frame carrying its send time (a VP8 frame gets it on its last
    packet's payload instead: ``PacketSource._packetise``)."""
    mark = marker(now)
    if codec == "h264":
        return data + b"\x00\x00\x00\x01\x0c" + mark
    if codec == "opus":
        # single frame (code 0) -> code 3, CBR, one frame, padding = marker
        toc = (data[0] & 0xFC) | 3
        return bytes((toc, 0x41, MARK_LEN)) + data[1:] + mark
    raise ValueError(f"no frame-level send-time marker for {codec}")


class PacketSource:
    """One sending track: frames of a pre-encoded clip at the clip's rate, marked and
    packetised, for an ``RtpLeg`` (``next_frame`` is its ``NextFrame``)."""

    def __init__(self, kind: str, codec: str, clip: list[Any]) -> None:
        self.kind = kind
        self.codec = codec
        self.clip = clip
        if kind == "video":
            self.interval, self.step = 1 / 30, 3000
        else:
            self.interval, self.step = 0.02, 960
        self.n = 0
        self.pos = 0
        self.start: float | None = None
        self.sent_at: list[float] = []
        self.sending = True
        self.resume = asyncio.Event()
        self.keyframe_wanted = False
        self.last_keyframe_jump = 0.0
        self.keyframe_jumps = 0
        self._picture_id = 0

    def request_keyframe(self) -> None:
        self.keyframe_wanted = True

    async def next_frame(self) -> tuple[RtpPayloads, int, None]:
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
        if not self.sending:  # stopped while waiting for the frame's time
            await self.resume.wait()
            raise MediaStreamError
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
        payloads = self._packetise(data, now)
        pts = self.n * self.step
        self.n += 1
        self.sent_at.append(now)
        return payloads, pts, None

    def _packetise(self, frame: bytes, now: float) -> RtpPayloads:
        if self.codec == "vp8":
            # The packetiser aiortc's Vp8Encoder.pack() uses. The marker goes onto the last
            # payload whole, so that packet alone carries it (packetised with the frame, a
            # short last chunk would split it in two).
            payloads = client_side.packetize_vp8(frame, self._picture_id)
            payloads[-1] += marker(now)
            self._picture_id = (self._picture_id + 1) & 0x7FFF
        elif self.codec == "h264":
            # the marker is a NAL unit of its own, far below the packet size: never split
            marked = with_marker("h264", frame, now)
            payloads = client_side.packetize_h264(marked)
        else:
            payloads = [with_marker("opus", frame, now)]
        last = len(payloads) - 1
        return tuple((payload, i == last) for i, payload in enumerate(payloads))


class SilentTrack(MediaStreamTrack):
    """What aiortc's own RTP loop reads on a sender whose packets an ``RtpLeg`` sends:
    nothing, until the track stops."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self) -> av.Packet:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


class StreamMeter:
    """What one received stream delivered: frames with their send and arrival times."""

    PLI_INTERVAL_S = 0.3

    def __init__(self, kind: str, codec: str, receiver: RTCRtpReceiver) -> None:
        self.kind, self.codec, self.receiver = kind, codec, receiver
        self.frames: list[tuple[float | None, float]] = []  # (send time or None, arrival)
        self.seen: set[float] = set()
        self.first_frame_at: float | None = None
        self.packets = 0
        self.lost_packets = 0
        self.late_packets = 0
        self.broken_frames = 0
        self.ssrc: int | None = None
        self._next_sequence: int | None = None
        self._broken = False
        self._decoder: Any = None
        self._assembly: list[bytes] = []
        self._assembly_timestamp: int | None = None
        self._assembly_broken = False
        self._last_pli = 0.0

    def on_packet(self, data: bytes) -> None:
        now = time.monotonic()
        self.packets += 1
        sequence = (data[2] << 8) | data[3]
        expected = self._next_sequence
        if expected is not None and sequence != expected:
            ahead = (sequence - expected) & 0xFFFF
            if ahead >= 0x8000:  # older than what came already: reordered or repeated
                self.late_packets += 1
                return
            self.lost_packets += ahead
            self._broken = True
        else:
            self.ssrc = int.from_bytes(data[8:12], "big")
        self._next_sequence = (sequence + 1) & 0xFFFF
        if self.first_frame_at is None:
            self._toward_first_frame(data, now)
        if self.kind == "video":
            if not data[1] & 0x80:
                return  # not a frame's last packet
            broken, self._broken = self._broken, False
            if broken:  # a packet of this frame (or between it and the last) never came
                self.broken_frames += 1
                return
        sent = read_marker(data)
        if sent is not None:
            if sent not in self.seen:
                self.seen.add(sent)
                self.frames.append((sent, now))
        else:  # markers stripped (the transcoding relay re-encodes): count by arrival
            self.frames.append((None, now))

    def _toward_first_frame(self, data: bytes, now: float) -> None:
        if self.kind == "audio":
            self.first_frame_at = now
            return
        try:
            packet = parse_rtp(data)
        except ValueError:
            return
        if packet.timestamp != self._assembly_timestamp:
            self._assembly, self._assembly_timestamp = [], packet.timestamp
            self._assembly_broken = False
        self._assembly_broken |= self._broken
        depayload = vp8_depayload if self.codec == "vp8" else h264_depayload
        try:
            self._assembly.append(depayload(packet.payload))
        except ValueError:
            self._assembly_broken = True
        if not packet.marker:
            return
        if not self._assembly_broken and self._decodes(b"".join(self._assembly)):
            self.first_frame_at = time.monotonic()
            self._assembly = []
        elif now - self._last_pli > self.PLI_INTERVAL_S:
            # an undecodable start: ask for a keyframe, as a browser does
            self._last_pli = now
            run_now(client_side.send_pli(self.receiver, packet.ssrc))

    def _decodes(self, frame: bytes) -> bool:
        if self._decoder is None:
            self._decoder = av.CodecContext.create(
                "libvpx" if self.codec == "vp8" else "h264", "r"
            )
        try:
            return bool(self._decoder.decode(av.Packet(frame)))
        except av.FFmpegError:
            return False


class ReceivedRtp(RtpInput):
    """A DTLS transport's received RTP, after SRTP, to the meter of its payload type.

    An ``RtpInput`` so that ``DirectSrtp`` hands it each packet in the call that received
    it; aiortc's receivers never see media, so they neither buffer nor decode."""

    def __init__(self, dtls: Any, meters: dict[int, StreamMeter]) -> None:
        super().__init__(dtls)
        self._meters = meters

    def handle_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        meter = self._meters.get(data[1] & 0x7F)
        if meter is not None:
            meter.on_packet(data)


class Party:
    """One browser: one RTCPeerConnection, pre-encoded camera + microphone."""

    def __init__(self, name: str, codec: str, clip: dict[str, list[Any]]) -> None:
        self.name = name
        self.codec = codec
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.audio = PacketSource("audio", "opus", clip["audio"])
        self.video = PacketSource("video", codec, clip["video"])
        at = self.pc.addTransceiver(SilentTrack("audio"), direction="sendrecv")
        vt = self.pc.addTransceiver(SilentTrack("video"), direction="sendrecv")
        caps = RTCRtpSender.getCapabilities("video").codecs
        want = "video/VP8" if codec == "vp8" else "video/H264"
        prefs = [c for c in caps if c.mimeType == want
                 and (codec == "vp8" or c.parameters.get("profile-level-id") == "42e01f")]
        prefs += [c for c in caps if c.mimeType == "video/rtx"]
        vt.setCodecPreferences(prefs)
        acaps = RTCRtpSender.getCapabilities("audio").codecs
        at.setCodecPreferences([c for c in acaps if c.mimeType == "audio/opus"])
        forward_rtp(at.sender, self.audio.next_frame)
        forward_rtp(vt.sender, self.video.next_frame)
        client_side.on_keyframe_request(vt.sender, self.video.request_keyframe)
        self.meters = {"audio": StreamMeter("audio", "opus", at.receiver),
                       "video": StreamMeter("video", codec, vt.receiver)}
        self.join_sent_at: float | None = None
        self._remb_task: asyncio.Task[None] | None = None

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        self._take_over_receiving()

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._take_over_receiving()
        return self.pc.localDescription.sdp

    def _take_over_receiving(self) -> None:
        """Once both descriptions are set (transports bundled, candidates gathered, no
        media yet: DTLS has not finished), received RTP goes to the meters."""
        meters: dict[int, StreamMeter] = {}
        for description in (self.pc.localDescription, self.pc.remoteDescription):
            for media in SessionDescription.parse(description.sdp).media:
                if media.kind not in self.meters:
                    continue
                for codec in media.rtp.codecs:
                    if codec.mimeType.lower().endswith("/rtx"):
                        continue  # this client sends no NACK, so nothing is repaired
                    meters[codec.payloadType] = self.meters[media.kind]
        transports = {id(t.receiver.transport): t.receiver.transport
                      for t in self.pc.getTransceivers()}
        for dtls in transports.values():
            ReceivedRtp(dtls, meters)
            DirectSrtp(dtls)
        self._remb_task = asyncio.create_task(self._report_bandwidth())

    async def _report_bandwidth(self) -> None:
        meter = self.meters["video"]
        while True:
            await asyncio.sleep(1.0)
            if meter.ssrc is None:
                continue
            packet = remb_packet(meter.receiver, REMB_BITRATE, [meter.ssrc])
            if packet is None:
                continue
            try:
                await client_side.send_rtcp(meter.receiver, packet)
            except ConnectionError:
                return

    def stop_sending(self) -> None:
        self.audio.sending = False
        self.video.sending = False

    async def close(self) -> None:
        self.audio.sending = self.video.sending = False
        self.audio.resume.set()
        self.video.resume.set()
        if self._remb_task is not None:
            self._remb_task.cancel()
        await self.pc.close()


def _window(times: list[float], t0: float, t1: float) -> int:
    return sum(1 for t in times if t0 <= t < t1)


def pair_figures(src: Party, dst: Party, t0: float, t1: float) -> dict[str, Any]:
    """What ``src`` sent in [t0, t1) and what ``dst`` got of it."""
    out: dict[str, Any] = {}
    for kind in ("audio", "video"):
        source = src.audio if kind == "audio" else src.video
        meter = dst.meters[kind]
        sent = _window(source.sent_at, t0, t1)
        marked = [(s, a) for s, a in meter.frames if s is not None]
        if marked:
            got = [(s, a) for s, a in marked if t0 <= s < t1]
            received = len(got)
            delays = [(a - s) * 1000 for s, a in got]
        else:  # markers stripped (transcoding): count by arrival time
            received = _window([a for _, a in meter.frames], t0, t1)
            delays = []
        out[kind] = {"sent": sent, "received": received, "delays_ms": delays,
                     "sent_total": len(source.sent_at), "received_total": len(meter.frames),
                     "packets_received": meter.packets, "packets_lost": meter.lost_packets,
                     "frames_broken": meter.broken_frames,
                     "first_frame_s": (meter.first_frame_at - dst.join_sent_at)
                     if meter.first_frame_at and dst.join_sent_at else None}
    out["keyframe_jumps"] = src.video.keyframe_jumps
    vm = dst.meters["video"]
    out["video_trace"] = [(round(s - t0, 3), round((a - s) * 1000, 1)) for s, a in vm.frames
                          if s is not None and t0 <= s < t1][:400]
    return out
