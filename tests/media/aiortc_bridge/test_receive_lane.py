"""A prepared receiver's packets take the bridge's ReceiveLane, which keeps aiortc's receiver
bookkeeping exactly: statistics, NACKs, RTX, the bandwidth estimate."""

from __future__ import annotations

import time
import types

import aiortc.rtcdtlstransport
import aiortc.rtp
import pytest
from aiortc import RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from hypothesis import given, settings
from hypothesis import strategies as st

from media.aiortc_bridge import receive, receive_lane
from media.rtp.reader import parse_rtp
from media.rtp.uplink_estimate import RembThrottle
from media.rtp.writer import ntp_ms

pytestmark = pytest.mark.bridge

MID, ABS_SEND_TIME = 1, 3
SSRC, RTX_SSRC, RTCP_SSRC = 0x1111, 0x2222, 0x5555
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
RTX = RTCRtpCodecParameters(
    mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}
)
EXTENSIONS = aiortc.rtp.HeaderExtensionsMap()
EXTENSIONS.configure(
    aiortc.rtcrtpparameters.RTCRtpParameters(
        headerExtensions=[
            aiortc.rtcrtpparameters.RTCRtpHeaderExtensionParameters(
                id=MID, uri="urn:ietf:params:rtp-hdrext:sdes:mid"
            ),
            aiortc.rtcrtpparameters.RTCRtpHeaderExtensionParameters(
                id=ABS_SEND_TIME, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            ),
        ]
    )
)


class Receiver:
    """A video receiver as receive() leaves it (codecs, RTX mapping, RTCP SSRC), with the
    RTCP it sends kept; prepared (its packets through the lane) or left to aiortc."""

    def __init__(self, *, prepared: bool) -> None:
        self.receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
        self.rtcp: list[tuple[int, aiortc.rtp.AnyRtcpPacket]] = []  # (arrival ms, packet)
        self.now_ms = 0

        async def send_rtcp(packet: aiortc.rtp.AnyRtcpPacket) -> None:
            self.rtcp.append((self.now_ms, packet))

        self.receiver._send_rtcp = send_rtcp
        self.lane = None
        if prepared:
            self.hooks = receive.prepare_receiver(self.receiver, "video")
            self.lane = self.hooks.lane
            self.lane.abs_send_time_id = ABS_SEND_TIME  # what receive() reads from the answer
        self.receiver._RTCRtpReceiver__codecs.update({96: VP8, 97: RTX})
        self.receiver._RTCRtpReceiver__rtx_ssrc[RTX_SSRC] = SSRC
        self.receiver._set_rtcp_ssrc(RTCP_SSRC)

    async def receive(self, data: bytes, arrival_ms: int) -> None:
        self.now_ms = arrival_ms
        if self.lane is not None:
            self.lane.handle(parse_rtp(data), arrival_ms)
        else:
            packet = aiortc.rtp.RtpPacket.parse(data, EXTENSIONS)
            await self.receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_ms)

    def feedback(self, *, as_a_browser_sends_it: bool = False) -> list[tuple[str, object]]:
        """The NACKs and REMBs sent upstream (keyframe requests depend on the buffer);
        ``as_a_browser_sends_it`` leaves out the REMBs a browser's throttle would hold."""
        out: list[tuple[str, object]] = []
        throttle = RembThrottle()
        for now_ms, packet in self.rtcp:
            if isinstance(packet, aiortc.rtp.RtcpRtpfbPacket):
                out.append(("nack", list(packet.lost)))
            elif packet.fmt == aiortc.rtp.RTCP_PSFB_APP:
                bitrate, ssrcs = aiortc.rtp.unpack_remb_fci(packet.fci)
                if not as_a_browser_sends_it or throttle.due(bitrate, now_ms):
                    out.append(("remb", (bitrate, ssrcs)))
        return out

    def bookkeeping(self) -> dict[str, object]:
        streams = self.receiver._RTCRtpReceiver__remote_streams
        return {
            "streams": {
                ssrc: (s.packets_received, s.base_seq, s.max_seq, s.cycles, s.packets_expected)
                for ssrc, s in streams.items()
            },
            "active": sorted(self.receiver._RTCRtpReceiver__active_ssrc),
            "missing": sorted(self.receiver._RTCRtpReceiver__nack_generator.missing),
        }


def packet(seq: int, index: int, send_time: int, *, rtx_seq: int | None = None) -> bytes:
    """The ``index``-th packet of a stream of three-packet VP8 frames (or its RTX copy)."""
    payload = bytes([0x10 if index % 3 == 0 else 0x00]) + b"vp8 frame data %d" % index
    p = aiortc.rtp.RtpPacket(
        payload_type=96,
        marker=int(index % 3 == 2),
        sequence_number=seq,
        timestamp=(3000 * (index // 3)) & 0xFFFFFFFF,
        ssrc=SSRC,
        payload=payload,
    )
    p.extensions.mid = "1"
    p.extensions.abs_send_time = send_time & 0xFFFFFF
    if rtx_seq is not None:
        p.payload_type, p.ssrc, p.sequence_number = 97, RTX_SSRC, rtx_seq
        p.payload = seq.to_bytes(2, "big") + payload
    return p.serialize(EXTENSIONS)


@st.composite
def uplinks(draw: st.DrawFn) -> list[tuple[bytes, int]]:
    """A browser's video uplink with losses, reordering, duplicates and RTX repairs,
    as (datagram after SRTP, arrival ms)."""
    n = draw(st.integers(4, 90))
    start = draw(st.integers(0, 0xFFFF))
    order = list(range(n))
    for i in draw(st.lists(st.integers(0, n - 2), max_size=6)):
        order[i], order[i + 1] = order[i + 1], order[i]
    lost = draw(st.sets(st.integers(1, n - 1), max_size=n // 3))
    order = [i for i in order if i not in lost]
    order += draw(st.lists(st.sampled_from(order), max_size=3))  # duplicates, late
    repaired = draw(st.lists(st.sampled_from(sorted(lost)), unique=True)) if lost else []
    now, events = 1_000, []
    for index in order:
        now += draw(st.integers(0, 25))
        send = now * 262 - draw(st.integers(0, 2_000))  # 6.18 fixed-point seconds, with jitter
        events.append((packet((start + index) & 0xFFFF, index, send), now))
    for rtx_seq, index in enumerate(repaired):
        now += draw(st.integers(1, 25))
        rtx = packet((start + index) & 0xFFFF, index, now * 262, rtx_seq=rtx_seq)
        events.append((rtx, now))
    return events


@settings(max_examples=150, deadline=None)
@given(uplinks())
async def test_the_lane_keeps_aiortcs_statistics_nacks_rtx_and_bandwidth_estimate(events):
    ours, aiortcs = Receiver(prepared=True), Receiver(prepared=False)
    for data, arrival_ms in events:
        await ours.receive(data, arrival_ms)
        await aiortcs.receive(data, arrival_ms)
    assert ours.lane.packets == len(events)
    assert ours.feedback() == aiortcs.feedback(as_a_browser_sends_it=True)
    assert ours.bookkeeping() == aiortcs.bookkeeping()


async def test_the_lane_sends_aiortcs_bandwidth_estimate_upstream():
    # aiortc's estimator speaks after 3 s, or at once when a queue builds up on the path:
    # 5 s at 200 packets a second, the last 1.5 s arriving later and later.
    ours, aiortcs = Receiver(prepared=True), Receiver(prepared=False)
    for index in range(1000):
        send_ms = 1_000 + 5 * index
        queued_ms = max(0, index - 700) // 2
        data = packet(index, index, send_ms * 262)
        await ours.receive(data, send_ms + queued_ms)
        await aiortcs.receive(data, send_ms + queued_ms)
    rembs = [value for kind, value in ours.feedback() if kind == "remb"]
    assert len(rembs) >= 2 and rembs[-1][1] == [SSRC]
    # aiortc sends one on every packet while it reads a queue building; a browser, and
    # the lane, at most one per 200 ms unless the estimate falls by more than 3 %.
    assert len(aiortcs.feedback()) > 2 * len(rembs)
    assert ours.feedback() == aiortcs.feedback(as_a_browser_sends_it=True)


async def test_a_relayed_remb_that_covers_the_uplink_pauses_the_servers_estimate():
    ours = Receiver(prepared=True)
    hooks = ours.hooks
    now_ms = ntp_ms(time.time())  # the lane's clock: a paused estimate resumes by it

    async def uplink(first: int, start_ms: int, count: int) -> list[int]:
        """``count`` packets, 200 a second, a queue building on the path; the REMBs sent."""
        before = len(ours.feedback())
        for index in range(first, first + count):
            send_ms = start_ms + 5 * (index - first)
            await ours.receive(packet(index, index, send_ms * 262), send_ms + (index - first) // 3)
        return [value[0] for kind, value in ours.feedback()[before:] if kind == "remb"]

    assert await uplink(0, now_ms - 10_000, 600) and hooks.estimating_uplink
    assert hooks.last_estimate is not None
    await hooks.send_remb(5_000_000)
    assert ours.feedback()[-1][1][0] == hooks.last_estimate  # capped by our own estimate

    # The physician's browser, seeing the party's own send times, reports 400 kbit/s.
    hooks.set_remb_cap(400_000, covers_uplink=True)
    assert not hooks.estimating_uplink and hooks.last_estimate is None
    assert await uplink(600, now_ms - 1_000, 400) == []  # the queue goes on; we say nothing
    await hooks.send_remb(5_000_000)
    assert ours.feedback()[-1][1][0] == 5_000_000  # relayed as measured, not capped

    # Its REMBs stop (the physician left): 5 s on, the estimate speaks again, from 400 kbit/s.
    resumed = await uplink(1000, now_ms + 6_000, 200)
    assert resumed and 400_000 <= resumed[0] <= 440_000 and hooks.estimating_uplink

    # A REMB from a leg aiortc re-encodes measured only our downlink: ours keeps running.
    hooks.set_remb_cap(300_000, covers_uplink=False)
    assert hooks.estimating_uplink and await uplink(1200, now_ms + 7_000, 400)


async def test_the_lane_hands_complete_frames_over_depayloaded():
    ours = Receiver(prepared=True)
    ours.receiver._RTCRtpReceiver__decoder_thread = object()  # receive() started it
    frames: list[tuple[str, bytes, int]] = []
    receive.hand_off_of(ours.receiver).listen(
        lambda codec, frame: frames.append((codec.mimeType, frame.data, frame.timestamp))
    )
    for index in (0, 2, 1, 3, 4, 5):  # the first frame's middle packet comes last
        await ours.receive(packet(100 + index, index, index * 262), 1_000 + index)
    assert frames == [
        ("video/VP8", b"vp8 frame data 0vp8 frame data 1vp8 frame data 2", 0),
        ("video/VP8", b"vp8 frame data 3vp8 frame data 4vp8 frame data 5", 3000),
    ]


async def test_the_sources_heard_are_listed_as_aiortc_lists_them():
    ours = Receiver(prepared=True)
    await ours.receive(packet(1, 0, 262), 1_000)
    first = ours.receiver.getSynchronizationSources()
    assert [s.source for s in first] == [SSRC]
    await ours.receive(packet(2, 1, 524), 1_050)  # within the refresh interval: kept
    assert ours.receiver.getSynchronizationSources()[0].timestamp == first[0].timestamp
    await ours.receive(packet(3, 2, 786), 1_000 + receive_lane.ACTIVE_SOURCE_REFRESH_MS)
    assert ours.receiver.getSynchronizationSources()[0].timestamp > first[0].timestamp


async def test_a_disabled_receiver_takes_nothing():
    ours = Receiver(prepared=True)
    ours.receiver._enabled = False
    await ours.receive(packet(1, 0, 262), 1_000)
    assert ours.lane.packets == 0
    assert ours.bookkeeping()["streams"] == {}


class Transport:
    """What RtpInput uses of a DTLS transport: aiortc's router and its RTP handler."""

    def __init__(self) -> None:
        self._rtp_router = aiortc.rtcdtlstransport.RtpRouter()
        self.through_aiortc: list[bytes] = []

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self.through_aiortc.append(data)


async def test_rtp_input_routes_to_lanes_and_leaves_other_receivers_to_aiortc():
    transport = Transport()
    ours = Receiver(prepared=True)
    plain = RTCRtpReceiver("audio", types.SimpleNamespace(state="new"))
    router = transport._rtp_router
    router.register_receiver(ours.receiver, ssrcs=[SSRC, RTX_SSRC], payload_types=[96, 97])
    router.register_receiver(plain, ssrcs=[0x7777], payload_types=[111])
    rtp_input = receive_lane.RtpInput.install(transport)
    assert receive_lane.RtpInput.install(transport) is rtp_input  # once per transport
    rtp_input.add(ours.lane)

    await transport._handle_rtp_data(packet(1, 0, 262), 1_000)  # aiortc's receive task
    rtp_input.handle_rtp(packet(2, 1, 524), 1_001)  # DirectSrtp
    opus = aiortc.rtp.RtpPacket(payload_type=111, sequence_number=9, ssrc=0x7777, payload=b"o")
    rtp_input.handle_rtp(opus.serialize(), 1_002)
    stranger = aiortc.rtp.RtpPacket(payload_type=100, sequence_number=1, ssrc=0x9999)
    rtp_input.handle_rtp(stranger.serialize(), 1_003)
    rtp_input.handle_rtp(b"\x80\x60\x00", 1_004)

    assert ours.lane.packets == 2
    assert transport.through_aiortc == [opus.serialize()]  # parsed again by aiortc, as before
    assert rtp_input.unparsable == 1
