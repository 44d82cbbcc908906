"""Stand-in browsers for the media tests: aiortc client peers with synthetic camera/mic.

Each ``ClientPeer`` is an ordinary aiortc peer (its receivers decode, since the
forwarding hook only touches receivers the server prepared) that offers sendrecv
audio + video like a browser does. Its tracks stay silent until ``start()``, so
a test can let media flow only once both sides are connected and count exactly.
"""

from __future__ import annotations

import asyncio
import fractions
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiortc.codecs.h264
import aiortc.codecs.opus
import aiortc.codecs.vpx
import aiortc.rtp
import av
import numpy as np
import pytest
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from media.consult_media import ConsultMedia, MediaConfig, MediaEvent
from media.encoded_frame import EncodedFrame
from media.rtp.reader import InboundRtp

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)


class SyntheticVideo(MediaStreamTrack):
    """A camera: a solid colour with a moving bar, 30 fps, silent until the gate opens."""

    kind = "video"

    def __init__(
        self,
        width: int,
        height: int,
        rgb: tuple[int, int, int],
        gate: asyncio.Event,
        noisy: bool = False,
    ):
        super().__init__()
        self.width, self.height, self.gate = width, height, gate
        self.frames_produced = 0
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[:, :] = rgb
        self._images = []
        rng = np.random.default_rng(7)
        for i in range(30):
            img = base.copy()
            if noisy:  # camera-like detail, so the encoder spends its bitrate (bench)
                img = np.clip(img + rng.integers(-40, 40, img.shape), 0, 255).astype(np.uint8)
            x = (i * width // 30) % width
            img[:, x : x + max(2, width // 16)] = 255 - np.array(rgb, dtype=np.uint8)
            self._images.append(img)
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        await self.gate.wait()
        if self.readyState != "live":
            raise MediaStreamError
        n = self.frames_produced
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + n / 30 - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self._images[n % 30], format="rgb24")
        frame.pts = n * 3000
        frame.time_base = VIDEO_TIME_BASE
        self.frames_produced += 1
        return frame


class SyntheticAudio(MediaStreamTrack):
    """A microphone: a 440 Hz tone, 20 ms frames at 48 kHz, silent until the gate opens."""

    kind = "audio"

    def __init__(self, gate: asyncio.Event):
        super().__init__()
        self.gate = gate
        self.frames_produced = 0
        self.sent_at: dict[int, float] = {}
        t = np.arange(960) / 48000
        self._tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        await self.gate.wait()
        if self.readyState != "live":
            raise MediaStreamError
        n = self.frames_produced
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + n * 0.02 - time.monotonic()))
        frame = av.AudioFrame.from_ndarray(self._tone.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = n * 960
        frame.time_base = fractions.Fraction(1, 48000)
        self.sent_at[frame.pts] = time.monotonic()
        self.frames_produced += 1
        return frame


@dataclass
class Received:
    """What a client's remote track delivered (decoded by aiortc on the client)."""

    frames: list[Any] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    at: list[float] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    colours: list[tuple[int, int, int]] = field(default_factory=list)


class ClientPeer:
    """A browser's single RTCPeerConnection with the server."""

    def __init__(
        self,
        name: str,
        *,
        size: tuple[int, int] = (160, 120),
        rgb: tuple[int, int, int] = (200, 40, 40),
        video_mimes: tuple[str, ...] | None = None,
        noisy: bool = False,
    ) -> None:
        self.name = name
        self.gate = asyncio.Event()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.video = SyntheticVideo(size[0], size[1], rgb, self.gate, noisy)
        self.audio = SyntheticAudio(self.gate)
        self.audio_transceiver = self.pc.addTransceiver(self.audio, direction="sendrecv")
        self.video_transceiver = self.pc.addTransceiver(self.video, direction="sendrecv")
        if video_mimes is not None:
            caps = RTCRtpSender.getCapabilities("video").codecs
            prefs = [c for m in video_mimes for c in caps if _cap_key(c) == m]
            self.video_transceiver.setCodecPreferences(prefs)
        self.received = {"audio": Received(), "video": Received()}
        self._readers: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._readers.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        rec = self.received[track.kind]
        try:
            while True:
                frame = await track.recv()
                rec.at.append(time.monotonic())
                rec.pts.append(frame.pts)
                if track.kind == "video":
                    rec.sizes.append((frame.width, frame.height))
                    rgb = frame.to_ndarray(format="rgb24")
                    corner = rgb[: frame.height // 4, : frame.width // 8]
                    corner = corner.reshape(-1, 3).mean(axis=0)
                    rec.colours.append(tuple(int(v) for v in corner))  # type: ignore[misc]
        except MediaStreamError:
            pass

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def join(self, consult: ConsultMedia, role: str) -> None:
        await self.accept(await consult.answer(role, await self.offer()))

    def start(self) -> None:
        self.gate.set()

    def server_ssrc(self, kind: str) -> int:
        """The SSRC the server sends this client's ``kind`` on."""
        transceiver = self.video_transceiver if kind == "video" else self.audio_transceiver
        sources = transceiver.receiver.getSynchronizationSources()
        assert sources, f"{self.name} has received no {kind} yet"
        return max(sources, key=lambda s: s.timestamp).source

    async def close(self) -> None:
        self.gate.set()  # release tracks blocked on the gate so the senders can stop
        await self.pc.close()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


def _cap_key(cap: Any) -> str:
    plid = cap.parameters.get("profile-level-id")
    return f"{cap.mimeType}/{plid}" if plid else cap.mimeType


class RecordingSink:
    """A FrameSink that keeps everything (stands in for the recorder)."""

    def __init__(self) -> None:
        self.packets: list[tuple[str, str, str, av.Packet]] = []
        self.arrival: dict[tuple[str, str, int], float] = {}

    def on_frame(self, role: str, frame: EncodedFrame) -> None:
        packet = frame.to_packet()
        self.packets.append((role, frame.kind, frame.codec, packet))
        self.arrival[(role, frame.kind, packet.pts)] = time.monotonic()

    def of(self, role: str, kind: str) -> list[av.Packet]:
        return [p for r, k, _, p in self.packets if r == role and k == kind]


def rembs_heard_by(client: Any) -> list[int]:
    """The REMB bitrates the client's browser hears about its own video, as they come."""
    heard: list[int] = []
    sender = client.video_transceiver.sender
    original = sender._handle_rtcp_packet

    async def spy(packet: Any) -> None:
        if isinstance(packet, aiortc.rtp.RtcpPsfbPacket) and packet.fmt == aiortc.rtp.RTCP_PSFB_APP:
            bitrate, ssrcs = aiortc.rtp.unpack_remb_fci(packet.fci)
            if sender._ssrc in ssrcs:
                heard.append(bitrate)
        await original(packet)

    sender._handle_rtcp_packet = spy
    return heard


class DropOnePacket:
    """Counts one stream's RTP packets (plaintext, by SSRC) and drops the one after the
    first ``after``, as a lossy link would: the loss taps of the media tests use it."""

    def __init__(self, ssrc: int, *, after: int) -> None:
        self.ssrc = ssrc
        self.after = after
        self.seen = 0
        self.dropped_seq: int | None = None

    def drops(self, data: bytes) -> bool:
        seq, ssrc = struct.unpack_from("!HxxxxI", data, 2)
        if ssrc != self.ssrc:
            return False
        self.seen += 1
        if self.dropped_seq is None and self.seen > self.after:
            self.dropped_seq = seq
            return True
        return False


@dataclass
class Consult:
    media: ConsultMedia
    sink: RecordingSink
    events: list[MediaEvent]

    def events_of(self, kind: str, role: str | None = None) -> list[MediaEvent]:
        return [e for e in self.events if e.kind == kind and (role is None or e.role == role)]


async def wait_for(
    predicate: Callable[[], bool],
    seconds: float = 5.0,
    what: str = "",
    seen: Callable[[], object] | None = None,
) -> None:
    """Poll ``predicate`` until true; on timeout, ``seen()`` tells what was there instead."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            found = f": {seen()}" if seen is not None else ""
            raise AssertionError(
                f"timed out after {seconds}s waiting for {what or predicate}{found}"
            )
        await asyncio.sleep(0.02)


async def settle(observe: Callable[[], object], quiet: float = 0.3, seconds: float = 8.0) -> None:
    """Wait until ``observe()`` stopped changing for ``quiet`` seconds (in-flight media landed)."""
    deadline = time.monotonic() + seconds
    last, since = observe(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"still changing after {seconds}s: {last}")
        await asyncio.sleep(0.02)
        now = observe()
        if now != last:
            last, since = now, time.monotonic()


@pytest.fixture
def wait() -> Callable[..., Awaitable[None]]:
    return wait_for


@pytest.fixture
def settled() -> Callable[..., Awaitable[None]]:
    return settle


@pytest.fixture
async def make_consult() -> AsyncIterator[Callable[..., Consult]]:
    made: list[Consult] = []

    def make(forwarding: str = "passthrough", consult_id: str = "c-test", **kw: Any) -> Consult:
        sink = RecordingSink()
        events: list[MediaEvent] = []
        config = MediaConfig(ice_servers=[], forwarding=forwarding, **kw)  # type: ignore[arg-type]
        consult = Consult(ConsultMedia(consult_id, config, sink, events.append), sink, events)
        made.append(consult)
        return consult

    yield make
    for consult in made:
        await consult.media.close()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., ClientPeer]]:
    made: list[ClientPeer] = []

    def make(name: str, **kw: Any) -> ClientPeer:
        client = ClientPeer(name, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
def connected() -> Callable[..., Awaitable[None]]:
    """Join every client, wait until the server can send to each, then open the gates."""

    async def connect(
        consult: Consult, clients: dict[str, ClientPeer], start: tuple[str, ...] | None = None
    ) -> None:
        await asyncio.gather(*(c.join(consult.media, role) for role, c in clients.items()))

        def all_legs_started() -> bool:
            roles = consult.media.stats()["roles"]
            return all(
                roles[r]["connection_state"] == "connected"
                and all(leg["started"] for leg in roles[r]["outbound"])
                for r in clients
            )

        await wait_for(all_legs_started, 10, "both peers connected and senders reading")
        for role, c in clients.items():
            if start is None or role in start:
                c.start()

    return connect


CODECS = ("vp8", "h264", "opus")


@dataclass
class CodecTap:
    """Encoded bytes as the clients' encoders produced them and their decoders got them."""

    encoded: dict[str, list[bytes]] = field(default_factory=lambda: {c: [] for c in CODECS})
    decoded: dict[str, list[bytes]] = field(default_factory=lambda: {c: [] for c in CODECS})
    encode_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CODECS, 0))
    pack_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CODECS, 0))
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def codec_tap(monkeypatch: pytest.MonkeyPatch) -> CodecTap:
    """Wraps aiortc's encoders/decoders: who encoded what, who decoded what, who only packed."""
    tap = CodecTap()
    depayload = {
        "vp8": aiortc.codecs.vpx.vp8_depayload,
        "h264": aiortc.codecs.h264.h264_depayload,
        "opus": None,
    }
    classes = {
        "vp8": (aiortc.codecs.vpx.Vp8Encoder, aiortc.codecs.vpx.Vp8Decoder),
        "h264": (aiortc.codecs.h264.H264Encoder, aiortc.codecs.h264.H264Decoder),
        "opus": (aiortc.codecs.opus.OpusEncoder, aiortc.codecs.opus.OpusDecoder),
    }
    for name, (encoder_cls, decoder_cls) in classes.items():
        unpack = depayload[name]

        def make_encode(orig: Any, name: str = name, unpack: Any = unpack) -> Any:
            def encode(self: Any, frame: Any, force_keyframe: bool = False) -> Any:
                payloads, timestamp = orig(self, frame, force_keyframe)
                with tap.lock:
                    tap.encode_calls[name] += 1
                    if unpack is None:
                        tap.encoded[name].extend(payloads)
                    elif payloads:
                        tap.encoded[name].append(b"".join(unpack(p) for p in payloads))
                return payloads, timestamp

            return encode

        def make_pack(orig: Any, name: str = name) -> Any:
            def pack(self: Any, packet: Any) -> Any:
                with tap.lock:
                    tap.pack_calls[name] += 1
                return orig(self, packet)

            return pack

        def make_decode(orig: Any, name: str = name) -> Any:
            def decode(self: Any, encoded_frame: Any) -> Any:
                with tap.lock:
                    tap.decoded[name].append(bytes(encoded_frame.data))
                return orig(self, encoded_frame)

            return decode

        monkeypatch.setattr(encoder_cls, "encode", make_encode(encoder_cls.encode))
        monkeypatch.setattr(encoder_cls, "pack", make_pack(encoder_cls.pack))
        monkeypatch.setattr(decoder_cls, "decode", make_decode(decoder_cls.decode))
    return tap


def inbound_rtp(seq: int, timestamp: int, data: bytes = b"x") -> InboundRtp:
    """A received packet as the receive lane hands it to a buffer (payload type 96, SSRC 0)."""
    return InboundRtp(payload_type=96, marker=0, sequence_number=seq, timestamp=timestamp,
                      ssrc=0, payload=b"", data=data)
