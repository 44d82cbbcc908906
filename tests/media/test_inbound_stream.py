"""InboundStream: the upstream end of keyframe requests and bandwidth feedback."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import av

from media.forwarders import PassthroughForwarder
from media.inbound import InboundStream
from media.log import consult_log

LOG = consult_log("tests.media", "c-unit")


class FakeHooks:
    """Stands in for media.forwarding.ReceiverHooks."""

    def __init__(self) -> None:
        self.plis = 0
        self.rembs: list[int] = []
        self.cap: int | None = None
        self.counters = {"late_packets": 0, "holes_skipped": 0}

    def buffer_counters(self) -> dict[str, int]:
        return dict(self.counters)

    async def send_pli(self) -> int:
        self.plis += 1
        return 1

    async def send_remb(self, bitrate: int) -> bool:
        self.rembs.append(bitrate)
        return True

    def set_remb_cap(self, bitrate: int | None) -> None:
        self.cap = bitrate


class FakeTrack:
    kind = "video"

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    async def recv(self):
        return await self.queue.get()


def packet(pts: int, key: bool) -> av.Packet:
    p = av.Packet(bytes([0 if key else 1, 7]))
    p.pts = pts
    p.time_base = Fraction(1, 90000)
    p.is_keyframe = key
    return p


async def test_keyframe_requests_are_coalesced_per_interval():
    sent: list[tuple[str, bool]] = []
    stream = InboundStream(
        "guardian", "video", LOG, on_keyframe_request=lambda r, c: sent.append((r, c))
    )
    stream.PLI_INTERVAL = 0.2
    hooks = FakeHooks()
    stream.attach(FakeTrack(), hooks, "vp8")
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
    track = FakeTrack()
    stream.attach(track, hooks, "vp8")
    stream.request_keyframe("a")
    stream.request_keyframe("b")  # would go out at the end of the interval...
    await track.queue.put(packet(0, key=True))  # ...but a keyframe arrives first
    await asyncio.sleep(0.3)
    assert hooks.plis == 1
    await stream.close()


async def test_frames_reach_the_sink_and_every_leg():
    got: list = []
    stream = InboundStream("guardian", "video", LOG, on_frame=got.append)
    legs = [PassthroughForwarder("video", LOG), PassthroughForwarder("video", LOG)]
    for leg in legs:
        stream.subscribe(leg)
    track = FakeTrack()
    stream.attach(track, FakeHooks(), "vp8")
    for n in range(3):
        await track.queue.put(packet(1000 + n * 3000, key=n == 0))
    await asyncio.sleep(0.05)
    assert [f.pts for f in got] == [0, 3000, 6000]  # rebased onto the stream's timeline
    assert all(leg.stats().pushed == 3 for leg in legs)
    assert stream.stats().keyframes == 1 and stream.stats().subscribers == 2
    legs[0].close()
    assert stream.stats().subscribers == 1
    await stream.close()


async def test_downstream_remb_relays_the_lowest_leg():
    stream = InboundStream("physician", "video", LOG)
    stream.REMB_INTERVAL = 0.0
    hooks = FakeHooks()
    stream.attach(FakeTrack(), hooks, "vp8")
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
    audio.attach(FakeTrack(), FakeHooks(), "opus")
    audio.request_keyframe("x")
    assert audio.stats().plis_sent == 0
    await audio.close()


async def test_buffer_counters_add_up_over_the_partys_reconnects():
    stream = InboundStream("guardian", "video", LOG)
    first, second = FakeHooks(), FakeHooks()
    first.counters = {"late_packets": 2, "holes_skipped": 1}
    stream.attach(FakeTrack(), first, "vp8")
    assert (stream.stats().late_packets, stream.stats().holes_skipped) == (2, 1)
    stream.detach()  # the phone dropped off Wi-Fi: its peer's buffer is gone
    first.counters = {"late_packets": 99, "holes_skipped": 99}  # not read again
    second.counters = {"late_packets": 1, "holes_skipped": 0}
    stream.attach(FakeTrack(), second, "vp8")
    assert (stream.stats().late_packets, stream.stats().holes_skipped) == (3, 1)
    await stream.close()
