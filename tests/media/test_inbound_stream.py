"""InboundStream: the upstream end of keyframe requests and bandwidth feedback."""

from __future__ import annotations

import asyncio
from fractions import Fraction

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media.forwarding_strategies import PassthroughForwarder
from media.inbound import InboundStream
from media.log import consult_log

LOG = consult_log("tests.media", "c-unit")


class FakeHooks:
    """Stands in for media.aiortc_bridge.receive.ReceiverHooks."""

    def __init__(self) -> None:
        self.plis = 0
        self.rembs: list[int] = []
        self.cap: int | None = None
        self.covers_uplink = False
        self.estimating_uplink = True
        self.counters = {"late_packets": 0, "holes_skipped": 0}
        self.listener = None

    def deliver_frames_to(self, listener) -> None:
        self.listener = listener

    def frame(self, pts: int, key: bool, codec: RTCRtpCodecParameters | None = None) -> None:
        """What the receiver's buffer does with a completed VP8 frame."""
        assert self.listener is not None, "nobody is listening"
        self.listener(codec or VP8, JitterFrame(bytes([0x10 if key else 0x11, 7]), pts))

    def buffer_counters(self) -> dict[str, int]:
        return dict(self.counters)

    async def send_pli(self) -> int:
        self.plis += 1
        return 1

    async def send_remb(self, bitrate: int) -> bool:
        self.rembs.append(bitrate)
        return True

    def set_remb_cap(self, bitrate: int | None, *, covers_uplink: bool = False) -> None:
        self.cap = bitrate
        self.covers_uplink = covers_uplink


VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


async def test_keyframe_requests_are_coalesced_per_interval():
    sent: list[tuple[str, bool]] = []
    stream = InboundStream(
        "guardian", "video", LOG, on_keyframe_request=lambda r, c: sent.append((r, c))
    )
    stream.PLI_INTERVAL = 0.2
    hooks = FakeHooks()
    stream.attach(hooks, "vp8")
    for _ in range(5):
        stream.request_keyframe("downstream_pli")
    await asyncio.sleep(0.05)
    assert hooks.plis == 1
    await asyncio.sleep(0.25)
    assert hooks.plis == 2 and sent == [("downstream_pli", False), ("downstream_pli", True)]
    assert stream.stats().keyframe_requests == 5
    await stream.close()


async def test_a_keyframe_cancels_the_pending_request():
    stream = InboundStream("guardian", "video", LOG)
    stream.PLI_INTERVAL = 0.2
    hooks = FakeHooks()
    stream.attach(hooks, "vp8")
    stream.request_keyframe("a")
    stream.request_keyframe("b")  # would go out at the end of the interval...
    hooks.frame(0, key=True)  # ...but a keyframe arrives first
    await asyncio.sleep(0.3)
    assert hooks.plis == 1
    await stream.close()


async def test_frames_reach_the_sink_and_every_leg():
    got: list = []
    stream = InboundStream("guardian", "video", LOG, on_frame=got.append)
    legs = [PassthroughForwarder("video", LOG), PassthroughForwarder("video", LOG)]
    for leg in legs:
        stream.subscribe(leg)
    hooks = FakeHooks()
    stream.attach(hooks, "vp8")
    for n in range(3):
        hooks.frame(1000 + n * 3000, key=n == 0)
    # In the call that completed each frame, rebased onto the stream's timeline.
    assert [f.pts for f in got] == [0, 3000, 6000]
    assert [f.keyframe for f in got] == [True, False, False]
    assert {f.time_base for f in got} == {Fraction(1, 90000)}
    assert got[0].data == b"\x10\x07" and got[0].source == 1
    assert all(leg.stats().pushed == 3 for leg in legs)
    assert stream.stats().keyframes == 1 and stream.stats().subscribers == 2
    legs[0].close()
    assert stream.stats().subscribers == 1
    await stream.close()


async def test_downstream_remb_relays_the_lowest_leg():
    stream = InboundStream("physician", "video", LOG)
    stream.REMB_INTERVAL = 0.0
    hooks = FakeHooks()
    stream.attach(hooks, "vp8")
    a, b = PassthroughForwarder("video", LOG), PassthroughForwarder("video", LOG)
    stream.subscribe(a)
    stream.subscribe(b)
    a.downstream_remb(900_000)
    b.downstream_remb(250_000)
    await asyncio.sleep(0)
    assert hooks.cap == 250_000 and hooks.rembs[-1] == 250_000
    b.close()  # the slow leg leaves: the cap rises again
    await asyncio.sleep(0)
    assert hooks.cap == 900_000
    await stream.close()


async def test_no_requests_without_a_peer():
    stream = InboundStream("guardian", "video", LOG)
    stream.request_keyframe("x")
    assert stream.stats().plis_sent == 0
    audio = InboundStream("guardian", "audio", LOG)
    audio.attach(FakeHooks(), "opus")
    audio.request_keyframe("x")
    assert audio.stats().plis_sent == 0
    await audio.close()


async def test_buffer_counters_add_up_over_the_partys_reconnects():
    stream = InboundStream("guardian", "video", LOG)
    first, second = FakeHooks(), FakeHooks()
    first.counters = {"late_packets": 2, "holes_skipped": 1}
    stream.attach(first, "vp8")
    assert (stream.stats().late_packets, stream.stats().holes_skipped) == (2, 1)
    stream.detach()  # the phone dropped off Wi-Fi: its peer's buffer is gone
    first.counters = {"late_packets": 99, "holes_skipped": 99}  # not read again
    second.counters = {"late_packets": 1, "holes_skipped": 0}
    assert first.listener is None  # a late frame of the old peer reaches nobody
    stream.attach(second, "vp8")
    assert (stream.stats().late_packets, stream.stats().holes_skipped) == (3, 1)
    await stream.close()


async def test_keyframes_and_clock_follow_the_codec():
    got: list = []
    video = InboundStream("physician", "video", LOG, on_frame=got.append)
    hooks = FakeHooks()
    video.attach(hooks, "h264")
    idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x68\xce" + b"\x00\x00\x00\x01\x65\x88"
    hooks.listener(H264, JitterFrame(idr, 0))
    hooks.listener(H264, JitterFrame(b"\x00\x00\x00\x01\x41\x9a", 3000))
    assert [f.keyframe for f in got] == [True, False]
    assert video.stats().keyframes == 1

    heard: list = []
    audio = InboundStream("physician", "audio", LOG, on_frame=heard.append)
    audio_hooks = FakeHooks()
    audio.attach(audio_hooks, "opus")
    audio_hooks.listener(OPUS, JitterFrame(b"\xfc\x01", 960))
    (frame,) = heard
    assert frame.time_base == Fraction(1, 48000) and frame.keyframe and frame.codec == "opus"
    # An Opus frame that came without its RTP payloads is forwarded whole.
    assert frame.rtp_payloads() == ((b"\xfc\x01", False),)
    await video.close()
    await audio.close()
