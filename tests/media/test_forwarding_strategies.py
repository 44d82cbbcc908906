"""PassthroughForwarder on its own: start, keyframe gating, timestamps, a stalled receiver."""

from __future__ import annotations

import asyncio
import dataclasses
from fractions import Fraction

import pytest
from aiortc.mediastreams import MediaStreamError

from media.encoded_frame import EncodedFrame
from media.forwarding_strategies import PassthroughForwarder, TranscodingRelay, create_forwarder
from media.log import consult_log
from media.timeline import ContinuousTimeline

LOG = consult_log("tests.media", "c-unit")
VIDEO_TB = Fraction(1, 90000)


class FakeUpstream:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.rembs: list[int] = []
        self.rembs_cover_uplink: list[bool] = []
        self.forgotten: list[object] = []

    def request_keyframe(self, reason: str) -> None:
        self.requests.append(reason)

    def downstream_remb(self, leg: object, bitrate: int, *, covers_uplink: bool) -> None:
        self.rembs.append(bitrate)
        self.rembs_cover_uplink.append(covers_uplink)

    def forget_leg(self, leg: object) -> None:
        self.forgotten.append(leg)


def frame(
    n: int, *, key: bool = False, source: int = 1, kind: str = "video", at: float | None = None
):
    step = 3000 if kind == "video" else 960
    return EncodedFrame(
        kind=kind,
        codec="vp8" if kind == "video" else "opus",
        data=bytes([0 if key else 1, n % 256]),
        pts=n * step,
        time_base=VIDEO_TB if kind == "video" else Fraction(1, 48000),
        keyframe=key or kind == "audio",
        source=source,
        arrival=n / 30 if at is None else at,
    )


async def started(forwarder, upstream=None):
    """Let the sender begin reading, as aiortc does once DTLS is up."""
    if upstream is not None:
        forwarder.bind(upstream)
    reader = asyncio.ensure_future(forwarder.track.recv())
    await asyncio.sleep(0)
    return reader


async def drain(forwarder) -> list:
    out = []
    while forwarder.stats().queue_depth:
        out.append(await forwarder.track.recv())
    return out


async def test_frames_before_the_receiver_reads_are_discarded_and_start_asks_for_a_keyframe():
    upstream = FakeUpstream()
    fwd = PassthroughForwarder("video", LOG)
    fwd.bind(upstream)
    fwd.push(frame(0, key=True))
    assert fwd.stats().dropped_before_start == 1 and upstream.requests == []

    reader = await started(fwd)
    assert upstream.requests == ["downstream_started"]
    fwd.push(frame(1))  # a delta before any keyframe is useless to the new receiver
    fwd.push(frame(2, key=True))
    fwd.push(frame(3))
    first = await reader
    assert first.is_keyframe and bytes(first) == frame(2, key=True).data
    assert [bytes(p) for p in await drain(fwd)] == [frame(3).data]
    assert fwd.stats().dropped_awaiting_keyframe == 1
    assert upstream.requests[-1] == "awaiting_keyframe"


async def test_timestamps_stay_monotonic_when_the_source_reconnects():
    fwd = PassthroughForwarder("video", LOG)
    reader = await started(fwd, FakeUpstream())
    for n in range(5):
        fwd.push(frame(n, key=n == 0, source=1, at=10 + n / 30))
    # The party reconnects 2 s later; its new peer's timestamps restart at 0.
    for n in range(5):
        fwd.push(frame(n, key=n == 0, source=2, at=12.2 + n / 30))
    packets = [await reader, *await drain(fwd)]
    pts = [p.pts for p in packets]
    assert pts == sorted(set(pts)), pts
    gap = pts[5] - pts[4]
    assert 1.9 * 90000 < gap < 2.2 * 90000  # the real length of the gap, not a jump back
    assert fwd.stats().source_changes == 1


async def test_a_reconnect_without_a_keyframe_first_waits_for_one():
    upstream = FakeUpstream()
    fwd = PassthroughForwarder("video", LOG)
    reader = await started(fwd, upstream)
    fwd.push(frame(0, key=True))
    await reader
    fwd.push(frame(0, source=2))  # the first frame of the new source got lost upstream
    assert fwd.stats().dropped_awaiting_keyframe == 1
    assert upstream.requests[-1] == "awaiting_keyframe"
    fwd.push(frame(1, key=True, source=2))
    assert fwd.stats().queue_depth == 1


async def test_overflow_drops_up_to_the_next_queued_keyframe():
    events: list[int] = []
    fwd = PassthroughForwarder("video", LOG, on_overflow=events.append, queue_limit=5)
    reader = await started(fwd, FakeUpstream())
    fwd.push(frame(0, key=True))
    await reader  # the receiver took one frame, then stalled
    for n in range(1, 6):
        fwd.push(frame(n, key=n == 3))  # queue: 1 2 [3K] 4 5
    fwd.push(frame(6))  # full: drop 1 2, keep the GOP starting at 3
    out = await drain(fwd)
    assert [p.pts // 3000 for p in out] == [3, 4, 5, 6]
    assert out[0].is_keyframe
    assert events == [2] and fwd.stats().dropped_overflow == 2


async def test_overflow_without_a_queued_keyframe_clears_and_requests_one():
    upstream = FakeUpstream()
    fwd = PassthroughForwarder("video", LOG, queue_limit=4)
    reader = await started(fwd, upstream)
    fwd.push(frame(0, key=True))
    await reader
    for n in range(1, 5):
        fwd.push(frame(n))
    fwd.push(frame(5))  # overflow, no keyframe to resume from
    assert fwd.stats().queue_depth == 0
    assert upstream.requests[-1] == "queue_overflow"
    fwd.push(frame(6))  # still no keyframe: dropped, never a broken reference chain
    fwd.push(frame(7, key=True))
    fwd.push(frame(8))
    assert [p.pts // 3000 for p in await drain(fwd)] == [7, 8]
    stats = fwd.stats()
    assert stats.dropped_overflow == 5 and stats.dropped_awaiting_keyframe == 1


async def test_audio_overflow_drops_the_oldest_packets():
    fwd = PassthroughForwarder("audio", LOG, queue_limit=3)
    reader = await started(fwd)
    fwd.push(frame(0, kind="audio"))
    await reader
    for n in range(1, 6):
        fwd.push(frame(n, kind="audio"))
    assert [p.pts // 960 for p in await drain(fwd)] == [3, 4, 5]


async def test_downstream_feedback_goes_upstream():
    upstream = FakeUpstream()
    fwd = PassthroughForwarder("video", LOG)
    fwd.bind(upstream)
    fwd.downstream_keyframe_request("pli")
    fwd.downstream_remb(300_000)
    assert upstream.requests == ["downstream_pli"] and upstream.rembs == [300_000]
    assert fwd.stats().downstream_keyframe_requests == 1
    # Frames re-encoded or re-packetised by aiortc leave under the server's send times:
    # that browser's REMB says nothing of the party's uplink. Forwarded packets do.
    fwd.send_rtp()
    fwd.downstream_remb(280_000)
    assert upstream.rembs_cover_uplink == [False, True]


async def test_closing_ends_the_track_and_unbinds():
    upstream = FakeUpstream()
    fwd = PassthroughForwarder("video", LOG)
    reader = await started(fwd, upstream)
    fwd.close()
    with pytest.raises(MediaStreamError):
        await reader
    assert upstream.forgotten == [fwd]
    assert fwd.track.readyState == "ended"
    fwd.push(frame(0, key=True))  # ignored, no error


def test_strategies_by_name():
    assert isinstance(create_forwarder("passthrough", "video", LOG), PassthroughForwarder)
    assert isinstance(create_forwarder("transcoding", "audio", LOG), TranscodingRelay)
    with pytest.raises(ValueError):
        create_forwarder("simulcast", "video", LOG)


def test_continuous_timeline():
    tl = ContinuousTimeline(90000)
    assert [tl.map("a", p, 1.0 + p / 90000) for p in (5000, 8000, 11000)] == [0, 3000, 6000]
    assert tl.map("b", 0, 1.5) == 6000 + round((1.5 - (1.0 + 11000 / 90000)) * 90000)
    last = tl.last
    assert tl.map("b", 0, 1.6) == last + 1  # a repeated timestamp never repeats on output


# --------------------------------------------------------------------------- in-call sending


def rtp_frame(n: int, *, key: bool = False) -> EncodedFrame:
    """A video frame with the RTP payloads it arrived in, as the forwarding buffers keep."""
    base = frame(n, key=key)
    return dataclasses.replace(base, rtp=((base.data, True),))


class PacketSender:
    """RtpLeg.send_now's contract: sends in the call, or says it cannot yet."""

    def __init__(self) -> None:
        self.ready = True
        self.fails: BaseException | None = None
        self.sent: list[int] = []
        self.send_times: list[int | None] = []

    def send_now(self, payloads, pts: int, send_time: int | None) -> bool:
        if self.fails is not None:
            raise self.fails
        if not self.ready:
            return False
        self.sent.append(pts)
        self.send_times.append(send_time)
        return True


async def rtp_leg_started():
    """A bound video leg whose packet sender's task waits for its first frame, as RtpLeg's
    does: (forwarder, sender, the task's next_rtp, its pending first read)."""
    fwd = PassthroughForwarder("video", LOG)
    fwd.bind(FakeUpstream())
    sender = PacketSender()
    next_rtp = fwd.send_rtp()
    fwd.send_in_call(sender.send_now)
    reader = asyncio.ensure_future(next_rtp())
    await asyncio.sleep(0)
    return fwd, sender, next_rtp, reader


async def test_a_frame_goes_out_in_the_call_that_pushed_it():
    fwd, sender, _, reader = await rtp_leg_started()
    fwd.push(rtp_frame(0, key=True))
    fwd.push(rtp_frame(1))
    assert sender.sent == [0, 3000]  # sent before this coroutine yielded once
    stats = fwd.stats()
    assert (stats.forwarded, stats.queue_depth, stats.last_pts) == (2, 0, 3000)
    assert not reader.done()  # the sender's task was never woken
    reader.cancel()


async def test_the_partys_send_time_goes_with_the_frame_in_call_and_through_the_task():
    fwd, sender, _, reader = await rtp_leg_started()
    fwd.push(dataclasses.replace(rtp_frame(0, key=True), send_time=0x123456))
    fwd.push(rtp_frame(1))  # the party's browser stamped nothing on this one
    assert sender.send_times == [0x123456, None]
    sender.ready = False
    fwd.push(dataclasses.replace(rtp_frame(2), send_time=0xABCDEF))
    assert await reader == (((rtp_frame(2).data, True),), 6000, 0xABCDEF)


async def test_a_sender_not_ready_leaves_frames_to_its_task_in_order():
    fwd, sender, next_rtp, reader = await rtp_leg_started()
    sender.ready = False
    fwd.push(rtp_frame(0, key=True))
    sender.ready = True
    fwd.push(rtp_frame(1))  # must not overtake frame 0, still queued for the task
    assert sender.sent == []
    assert (await reader)[1] == 0
    assert (await next_rtp())[1] == 3000
    fwd.push(rtp_frame(2))  # the queue is empty again: in-call once more
    assert sender.sent == [6000]
    assert fwd.stats().forwarded == 3


async def test_a_failing_sender_hands_the_frame_to_its_task_and_is_not_tried_again(caplog):
    fwd, sender, next_rtp, reader = await rtp_leg_started()
    sender.fails = ConnectionError("transport closed")
    fwd.push(rtp_frame(0, key=True))
    # The task gets the frame and meets the failure itself (RtpLeg then ends the leg).
    assert (await reader)[1] == 0
    sender.fails = None
    fwd.push(rtp_frame(1))
    assert sender.sent == [] and (await next_rtp())[1] == 3000
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # a closed transport is no bug

    other, broken, _, other_reader = await rtp_leg_started()
    broken.fails = RuntimeError("bug")
    other.push(rtp_frame(0, key=True))
    assert (await other_reader)[1] == 0
    (failure,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "sending a video frame in-call failed" in failure.getMessage()
    assert isinstance(failure.exc_info[1], RuntimeError)
