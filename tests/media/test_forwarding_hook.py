"""The one reach into aiortc's internals: guarded, selective, and loud when it breaks."""

from __future__ import annotations

import asyncio
import inspect
import threading
import types

import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver
import pylibsrtp
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from hypothesis import given, settings
from hypothesis import strategies as st

from media import forwarding
from media.errors import ForwardingHookBroken
from media.rtp_reader import InboundRtp

# Every aiortc private name media/forwarding.py touches, checked here directly on the
# installed aiortc (independently of forwarding.check_hooks, which could be wrong too).
RECEIVER_INSTANCE_ATTRIBUTES = (
    "_RTCRtpReceiver__decoder_queue",
    "_RTCRtpReceiver__jitter_buffer",
    "_RTCRtpReceiver__rtcp_ssrc",
)
RECEIVER_METHODS = ("_send_rtcp_pli", "_send_rtcp", "_handle_rtp_packet", "receive")
SENDER_METHODS = ("_handle_rtcp_packet", "_run_rtp", "_run_rtcp")


def test_every_requirement_of_the_hook_holds_on_the_installed_aiortc():
    problems = forwarding.check_hooks()
    assert not problems, "aiortc internals moved; media/forwarding.py needs work:\n" + "\n".join(
        problems
    )


def test_private_attributes_are_present_on_the_installed_aiortc():
    assert aiortc.__version__.startswith("1.16."), (
        f"media/forwarding.py was written against aiortc 1.16, found {aiortc.__version__}"
    )
    handler_names = RTCRtpReceiver._handle_rtp_packet.__code__.co_names
    assert "_RTCRtpReceiver__decoder_queue" in handler_names, (
        "_handle_rtp_packet no longer puts frames into __decoder_queue: FrameHandOff sees nothing"
    )
    assert "get" in aiortc.rtcrtpreceiver.decoder_worker.__code__.co_names, (
        "decoder_worker no longer blocks in input_q.get(): the idle decoder thread would spin"
    )
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    for name in RECEIVER_INSTANCE_ATTRIBUTES:
        assert hasattr(receiver, name), f"RTCRtpReceiver instances lost {name}"
    for name in RECEIVER_METHODS:
        assert callable(getattr(RTCRtpReceiver, name, None)), f"RTCRtpReceiver lost {name}()"
    for name in SENDER_METHODS:
        assert callable(getattr(RTCRtpSender, name, None)), f"RTCRtpSender lost {name}()"
    assert "_ssrc" in RTCRtpSender.__init__.__code__.co_names, "RTCRtpSender lost _ssrc"
    assert "_rtx_ssrc" in RTCRtpSender.__init__.__code__.co_names, "RTCRtpSender lost _rtx_ssrc"
    sender_report = RTCRtpSender._run_rtcp.__code__.co_names
    for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count"):
        assert f"_RTCRtpSender__{name}" in sender_report, (
            f"Sender Reports no longer come from __{name}: RtpLeg's reports would be wrong"
        )
    assert inspect.iscoroutinefunction(RTCDtlsTransport._send_rtp), (
        "RTCDtlsTransport._send_rtp moved: RtpLeg cannot send"
    )
    assert "data_received" in aioice.ice.StunProtocol.datagram_received.__code__.co_names, (
        "aioice no longer hands datagrams to Connection.data_received: DirectSrtp sees nothing"
    )
    srtp_branch = RTCDtlsTransport._recv_next.__code__.co_names
    for name in ("_rx_srtp", "unprotect", "_handle_rtp_data", "_handle_rtcp_data"):
        assert name in srtp_branch, (
            f"RTCDtlsTransport._recv_next no longer uses {name}: DirectSrtp would skip a step"
        )


@pytest.mark.parametrize(
    ("owner", "attribute", "named"),
    [
        (RTCRtpReceiver, "_send_rtcp_pli", "_send_rtcp_pli"),
        (RTCRtpSender, "_handle_rtcp_packet", "_handle_rtcp_packet"),
        (RTCDtlsTransport, "_send_rtp", "_send_rtp"),
        (RTCDtlsTransport, "_handle_rtp_data", "_handle_rtp_data"),
        (aioice.ice.Connection, "data_received", "Connection.data_received"),
        (aiortc, "__version__", "1.16"),
        (pylibsrtp.Session, "unprotect", "pylibsrtp"),
    ],
)
def test_verification_fails_loudly_when_aiortc_moved(monkeypatch, owner, attribute, named):
    forwarding.forget_verification()
    if attribute == "__version__":
        monkeypatch.setattr(owner, attribute, "1.17.0")
    else:
        monkeypatch.delattr(owner, attribute)
    try:
        with pytest.raises(ForwardingHookBroken, match=named) as caught:
            forwarding.verify_aiortc()
        assert "media/forwarding.py" in str(caught.value)
    finally:
        monkeypatch.undo()
        forwarding.forget_verification()
        forwarding.verify_aiortc()


def test_a_step_added_to_aiortcs_packet_handler_is_noticed(monkeypatch):
    """ReceiveLane repeats _handle_rtp_packet step for step: a change upstream must be read."""
    original = RTCRtpReceiver._handle_rtp_packet

    async def with_one_more_step(self, packet, arrival_time_ms):
        self.audit_packet(packet)
        await original(self, packet, arrival_time_ms)

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", with_one_more_step)
    problems = forwarding.check_hooks()
    assert any("ReceiveLane repeats each of its steps" in p for p in problems), problems


VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)


async def test_prepared_receiver_hands_frames_to_its_listener_in_the_same_call(caplog):
    prepared = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    plain = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    hooks = forwarding.prepare_receiver(prepared, "video")
    # setRemoteDescription creates the remote track after the receiver was prepared
    prepared._track = aiortc.rtcrtpreceiver.RemoteStreamTrack(kind="video")
    assert forwarding.hand_off_of(plain) is None
    hand_off = forwarding.hand_off_of(prepared)
    assert hand_off is hooks.hand_off

    # What _handle_rtp_packet does with a completed frame: before a listener, dropped
    # and counted; then handed over inside the put() call, on this (the loop's) thread.
    decoder_queue = prepared._RTCRtpReceiver__decoder_queue
    decoder_queue.put((VP8, JitterFrame(b"\x10\x02\x00", 3000)))
    heard: list[tuple[object, JitterFrame, threading.Thread]] = []
    hooks.deliver_frames_to(
        lambda codec, frame: heard.append((codec, frame, threading.current_thread()))
    )
    decoder_queue.put((VP8, JitterFrame(b"\x11", 6000)))
    decoder_queue.put((VP8, JitterFrame(b"", 9000)))  # a padding-only packet: nothing to hand on
    assert [(c, f.data, f.timestamp, t) for c, f, t in heard] == [
        (VP8, b"\x11", 6000, threading.current_thread())
    ]
    assert (hand_off.frames, hand_off.unheard) == (1, 1)
    assert prepared.track._queue.empty()  # the remote track stays silent

    # A failing listener loses its frame, not the receiver.
    def failing(codec: object, frame: JitterFrame) -> None:
        raise RuntimeError("sink broke")

    hooks.deliver_frames_to(failing)
    decoder_queue.put((VP8, JitterFrame(b"\x11", 12000)))
    assert "frame listener failed" in caplog.text
    hooks.deliver_frames_to(None)
    decoder_queue.put((VP8, JitterFrame(b"\x11", 15000)))
    assert hand_off.unheard == 2

    # aiortc's decoder thread idles in get() until the receiver stops it with put(None).
    worker = threading.Thread(
        target=aiortc.rtcrtpreceiver.decoder_worker,
        args=(asyncio.get_running_loop(), hand_off, prepared.track._queue, threading.Event()),
    )
    worker.start()
    await asyncio.sleep(0.05)
    assert worker.is_alive() and prepared.track._queue.empty()
    decoder_queue.put(None)
    await asyncio.to_thread(worker.join, 5)
    assert not worker.is_alive()
    with pytest.raises(aiortc.MediaStreamError):  # the worker ended the track, as aiortc does
        await asyncio.wait_for(prepared.track.recv(), 5)


def rtp(seq: int, timestamp: int, data: bytes = b"x") -> InboundRtp:
    return InboundRtp(
        payload_type=96, marker=0, sequence_number=seq, timestamp=timestamp, ssrc=0,
        payload=b"", data=data,
    )


def test_forwarding_audio_buffer_releases_at_once_and_drops_late_packets():
    buffer = forwarding.ForwardingAudioBuffer()
    out = [buffer.add(rtp(seq, seq * 960))[1] for seq in (65534, 65535, 0, 1)]
    assert [f.timestamp for f in out] == [65534 * 960, 65535 * 960, 0, 960]  # across the wrap
    assert buffer.add(rtp(65535, 1))[1] is None  # late
    assert buffer.add(rtp(1, 960))[1] is None  # duplicate
    assert buffer.add(rtp(3, 2880))[1].timestamp == 2880  # a gap is fine
    assert buffer.late_dropped == 2


async def test_prepared_audio_receiver_uses_the_low_latency_buffer():
    receiver = RTCRtpReceiver("audio", types.SimpleNamespace(state="new"))
    forwarding.prepare_receiver(receiver, "audio")
    assert isinstance(forwarding.jitter_buffer_of(receiver), forwarding.ForwardingAudioBuffer)
    kept = RTCRtpReceiver("audio", types.SimpleNamespace(state="new"))
    forwarding.prepare_receiver(kept, "audio", low_latency_audio=False)
    assert type(forwarding.jitter_buffer_of(kept)).__name__ == "JitterBuffer"


async def test_receiver_hooks_cap_aiortcs_own_remb():
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    sent = []

    async def fake_send(packet):
        sent.append(packet)

    receiver._send_rtcp = fake_send
    hooks = forwarding.prepare_receiver(receiver, "video")
    remb = aiortc.rtp.RtcpPsfbPacket(
        fmt=aiortc.rtp.RTCP_PSFB_APP,
        ssrc=1,
        media_ssrc=0,
        fci=aiortc.rtp.pack_remb_fci(2_000_000, [5]),
    )
    await receiver._send_rtcp(remb)
    hooks.set_remb_cap(300_000)
    await receiver._send_rtcp(remb)
    pli = aiortc.rtp.RtcpPsfbPacket(fmt=aiortc.rtp.RTCP_PSFB_PLI, ssrc=1, media_ssrc=5)
    await receiver._send_rtcp(pli)
    rates = [aiortc.rtp.unpack_remb_fci(p.fci)[0] for p in sent[:2]]
    assert rates[0] == 2_000_000 and rates[1] <= 300_000
    assert sent[2] is pli
    assert hooks.last_estimate == 2_000_000 and hooks.rembs_capped == 1


async def test_sender_hook_reports_pli_and_remb_and_keeps_aiortcs_handling():
    sender = RTCRtpSender("video", types.SimpleNamespace(state="new"))
    seen = []
    forwarding.hook_sender(sender, on_keyframe_request=seen.append, on_remb=seen.append)
    ssrc = forwarding.sender_ssrc(sender)
    await sender._handle_rtcp_packet(
        aiortc.rtp.RtcpPsfbPacket(fmt=aiortc.rtp.RTCP_PSFB_PLI, ssrc=9, media_ssrc=ssrc)
    )
    await sender._handle_rtcp_packet(
        aiortc.rtp.RtcpPsfbPacket(
            fmt=aiortc.rtp.RTCP_PSFB_APP,
            ssrc=9,
            media_ssrc=0,
            fci=aiortc.rtp.pack_remb_fci(400_000, [ssrc]),
        )
    )
    await sender._handle_rtcp_packet(  # a REMB about someone else's stream
        aiortc.rtp.RtcpPsfbPacket(
            fmt=aiortc.rtp.RTCP_PSFB_APP,
            ssrc=9,
            media_ssrc=0,
            fci=aiortc.rtp.pack_remb_fci(1, [ssrc + 1]),
        )
    )
    assert seen == ["pli", 400_000]
    assert sender._RTCRtpSender__force_keyframe  # aiortc's own handling still ran
    await asyncio.sleep(0)


class VideoBufferHarness:
    """A ForwardingVideoBuffer with a hand-set clock and the frames it handed over."""

    def __init__(self) -> None:
        self.now = 100.0
        self.frames: list[tuple[bytes, int]] = []
        self.buffer = forwarding.ForwardingVideoBuffer(
            lambda codec, frame: self.frames.append((frame.data, frame.timestamp)),
            {96: VP8}.get,
            clock=lambda: self.now,
        )

    def add(self, seq: int, timestamp: int, data: bytes, marker: bool = False) -> bool:
        packet = rtp(seq & 0xFFFF, timestamp & 0xFFFFFFFF, data)
        packet.marker = int(marker)
        return self.buffer.add(packet)[0]


def test_video_buffer_releases_a_frame_at_its_marker_not_one_frame_later():
    h = VideoBufferHarness()
    h.add(9, 0, b"tail of a frame joined mid-way", marker=True)  # no beginning: not released
    assert h.frames == []
    h.add(10, 3000, b"a")
    h.add(12, 3000, b"c", marker=True)  # out of order
    assert h.frames == []
    h.add(11, 3000, b"b")
    assert h.frames == [(b"abc", 0)]  # complete: out at once, no next frame needed
    h.add(13, 6000, b"d", marker=True)
    assert h.frames[-1] == (b"d", 3000)
    assert h.buffer.frames == 2


def test_video_buffer_holds_frames_behind_a_hole_until_the_retransmission_fills_it():
    h = VideoBufferHarness()
    h.add(0, 0, b"", marker=True)
    h.add(1, 3000, b"k1", marker=True)
    h.add(3, 6000, b"p2", marker=True)  # 2 is lost: p2 may reference it
    h.add(4, 9000, b"p3", marker=True)
    assert [f[0] for f in h.frames] == [b"k1"]
    h.now += 0.2
    assert not h.add(2, 4500, b"p1", marker=True)  # the NACKed packet arrives
    assert [f[0] for f in h.frames] == [b"k1", b"p1", b"p2", b"p3"]
    assert h.add(2, 4500, b"p1", marker=True) is False and h.buffer.late_dropped == 1


def test_video_buffer_skips_an_unrepaired_hole_and_asks_for_a_keyframe():
    h = VideoBufferHarness()
    h.add(65533, 0, b"", marker=True)
    h.add(65534, 3000, b"k", marker=True)
    h.add(0, 6000, b"x", marker=True)  # 65535 never comes (and the numbers wrap)
    assert not h.add(1, 9000, b"y", marker=True)
    h.now += forwarding.ForwardingVideoBuffer.GAP_TIMEOUT_S + 0.01
    assert h.add(3, 12000, b"z1")  # pli_flag: the hole was given up
    # Resumed after the first frame that ended beyond the hole; what is complete is out.
    assert [f[0] for f in h.frames] == [b"k", b"y"]
    h.add(2, 12000, b"z0")
    h.add(4, 12000, b"z2", marker=True)
    assert [f[0] for f in h.frames] == [b"k", b"y", b"z0z1z2"]
    assert h.buffer.holes_skipped == 1
    assert not h.add(65535, 4500, b"too late", marker=True)
    assert h.buffer.late_dropped == 1


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=12),
    start=st.integers(0, 0xFFFF),
    data=st.data(),
)
def test_video_buffer_releases_exactly_the_complete_frames_in_order(sizes, start, data):
    """Any arrival order, any losses, sequence numbers across the wrap: what comes out is
    the run of whole frames up to the first one missing a packet, each once, in order."""
    packets = [(frame, i, i == n - 1) for frame, n in enumerate(sizes) for i in range(n)]
    order = data.draw(st.permutations(range(len(packets))), label="arrival order")
    lost = data.draw(st.sets(st.sampled_from(range(len(packets)))), label="lost")
    h = VideoBufferHarness()
    h.add(start - 1, 0, b"", marker=True)  # the stream starts at `start`
    for k in order:
        if k not in lost:
            frame, i, last = packets[k]
            h.add(start + k, 3000 * (frame + 1), bytes([frame, i]), marker=last)
    # No time passes, so no hole is given up on.
    whole: list[bytes] = []
    first = 0
    for frame, n in enumerate(sizes):
        if any(first + i in lost for i in range(n)):
            break
        whole.append(b"".join(bytes([frame, i]) for i in range(n)))
        first += n
    assert [d for d, _ in h.frames] == whole
    assert [t for _, t in h.frames] == [3000 * f for f in range(len(whole))]
    assert h.buffer.late_dropped == 0 and h.buffer.holes_skipped == 0


def test_a_frame_still_arriving_slowly_is_not_a_hole():
    h = VideoBufferHarness()
    h.add(0, 0, b"", marker=True)
    for seq in range(1, 40):  # a large keyframe paced out over a slow link
        h.now += 0.05
        assert not h.add(seq, 3000, b"k")
    h.add(40, 3000, b"!", marker=True)
    assert h.frames == [(b"k" * 39 + b"!", 0)] and h.buffer.holes_skipped == 0


def test_video_buffer_timestamps_start_at_zero_and_survive_the_32_bit_wrap():
    h = VideoBufferHarness()
    h.add(0, 0xFFFFF000, b"", marker=True)
    h.add(1, 0xFFFFFA00, b"a", marker=True)
    h.add(2, 0x00000200, b"b", marker=True)
    assert [f[1] for f in h.frames] == [0, 0x800]


async def test_prepared_video_receiver_uses_the_forwarding_video_buffer():
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    forwarding.prepare_receiver(receiver, "video")
    assert isinstance(forwarding.jitter_buffer_of(receiver), forwarding.ForwardingVideoBuffer)


async def test_receiver_hooks_report_what_the_forwarding_buffer_threw_away():
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))
    hooks = forwarding.prepare_receiver(receiver, "video")
    receiver._RTCRtpReceiver__codecs[96] = VP8  # what receive() fills in
    receiver._track = aiortc.rtcrtpreceiver.RemoteStreamTrack(kind="video")
    buffer = forwarding.jitter_buffer_of(receiver)
    for seq in (1, 1):  # a duplicate: the second copy is late
        packet = rtp(seq, 3000, b"\x10\x00")
        packet.payload, packet.marker = b"\x10\x00", 1
        buffer.add(packet)
    assert hooks.buffer_counters() == {"late_packets": 1, "holes_skipped": 0}


def _stamped(packet: InboundRtp, send_time: int) -> InboundRtp:
    """``packet`` carrying abs-send-time ``send_time`` as extension 3 (one-byte form)."""
    packet.extension_profile = 0xBEDE
    packet.extension_value = bytes([0x32]) + send_time.to_bytes(3, "big")
    return packet


def test_a_frame_carries_the_send_time_of_the_packet_that_completed_it():
    h = VideoBufferHarness()
    stamps: list[int | None] = []
    h.buffer._deliver = lambda codec, frame: stamps.append(frame.send_time)
    h.buffer.send_time_id = 3

    def add(seq: int, timestamp: int, send_time: int, marker: bool = True) -> None:
        packet = _stamped(rtp(seq, timestamp, b"x"), send_time)
        packet.marker = int(marker)
        h.buffer.add(packet)

    add(0, 0, 99)  # a frame joined mid-way: not released, the stream starts after it
    add(1, 3000, 100, marker=False)
    add(2, 3000, 101)  # the frame's last packet completes it
    add(4, 6000, 120)  # 3 is lost: this frame and the next wait
    add(5, 9000, 130)
    assert stamps == [101]
    h.now += 0.15
    add(3, 4500, 150)  # the retransmission, sent 150 ms after frame 1's end
    # Every frame it released goes out under its time: to the downstream estimate the wait
    # for the repair is not queueing on the path (the party hears of the loss in RRs).
    assert stamps == [101, 150, 150, 150]
    h.buffer.send_time_id = None  # no abs-send-time negotiated with the party
    add(6, 12000, 160)
    assert stamps[-1] is None
