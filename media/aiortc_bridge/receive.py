"""A prepared receiver: encoded frames to a listener in the call that completed them, and
feedback (PLI, REMB) upstream to the browser that sends them.

aiortc's receiver puts every frame its jitter buffer completes into a ``queue.Queue`` read
by a decoder thread, which posts each decoded frame back to the loop with
``run_coroutine_threadsafe``, where the remote track's ``recv()`` yields it. For a receiver
registered through :func:`prepare_receiver` that queue is replaced by a
:class:`FrameHandOff`: ``put`` hands the encoded frame (bytes, RTP timestamp, RTP payloads)
to a listener (:meth:`ReceiverHooks.deliver_frames_to`) on the loop, in the same call. The
decoder thread aiortc still starts waits idle until the receiver stops, and the remote
track stays silent. (The thread round trip per frame, two GIL hand-offs and a self-pipe
wake-up, was the largest single cost of a forwarded consult; the track's queue and reader
task after it were the next.) Other aiortc receivers in the process are untouched and
keep decoding.

:func:`prepare_receiver` also swaps aiortc's jitter buffer for one of
:mod:`media.rtp.jitter_buffers` and routes the receiver's packets through its
:class:`~media.aiortc_bridge.receive_lane.ReceiveLane`. :class:`ReceiverHooks` sends PLI
and REMB upstream, and caps the REMB aiortc's own bandwidth estimator sends so that the
upstream browser never hears a higher rate than the slowest downstream leg can take.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiortc.jitterbuffer
import aiortc.rtcrtpreceiver
import aiortc.rtp
from aiortc import RTCRtpReceiver

from media.aiortc_bridge.guard import (
    Requirement,
    is_coroutine_function,
    receiver_has,
    uses,
    verify_aiortc,
)
from media.aiortc_bridge.receive_lane import ReceiveLane
from media.rtp.jitter_buffers import ForwardingAudioBuffer, ForwardingVideoBuffer

logger = logging.getLogger(__name__)


FrameListener = Callable[[Any, aiortc.jitterbuffer.JitterFrame], None]
"""Takes each frame a prepared receiver completes: ``(codec parameters, frame)``."""


class FrameHandOff:
    """Stands in for a prepared receiver's decoder ``queue.Queue``.

    ``put((codec, frame))`` runs on the event loop inside ``_handle_rtp_packet`` (or the
    video buffer's release): the frame goes to the listener in that same call, with no
    ``av.Packet``, no queue and no task to wake. The remote track stays silent.
    ``put(None)`` (the receiver stopping) releases aiortc's decoder thread, which has
    been blocked in :meth:`get` since ``receive()``; it then ends the track as it
    always does.
    """

    def __init__(self) -> None:
        self._listener: FrameListener | None = None
        self._stopped = threading.Event()
        self.frames = 0
        self.unheard = 0

    def listen(self, listener: FrameListener | None) -> None:
        self._listener = listener

    def put(self, item: tuple[Any, aiortc.jitterbuffer.JitterFrame] | None) -> None:
        if item is None:
            self._stopped.set()
            return
        self.put_frame(*item)

    def put_frame(self, codec: Any, encoded_frame: aiortc.jitterbuffer.JitterFrame) -> None:
        if not encoded_frame.data:
            return  # padding-only RTP packets (bandwidth probes) depayload to nothing
        listener = self._listener
        if listener is None:
            self.unheard += 1
            return
        self.frames += 1
        try:
            listener(codec, encoded_frame)
        except Exception:
            # The buffer releasing this frame must not stop half-way through its run.
            logger.exception("a frame listener failed; the frame is dropped")

    def get(self) -> None:
        """What aiortc's decoder thread reads: nothing, until the receiver stops."""
        self._stopped.wait()


FRAME_HAND_OFF_REQUIRES = (
    Requirement(
        "RTCRtpReceiver._RTCRtpReceiver__decoder_queue (.put((codec, frame)) in "
        "_handle_rtp_packet, .put(None) in __stop_decoder, handed to the thread by receive())",
        "replaced per receiver by FrameHandOff so frames reach the track on the loop",
        lambda: (
            receiver_has("_RTCRtpReceiver__decoder_queue")
            and uses(RTCRtpReceiver._handle_rtp_packet, "_RTCRtpReceiver__decoder_queue", "put")
            and uses(RTCRtpReceiver.receive, "_RTCRtpReceiver__decoder_queue", "_track", "_queue")
            and uses(
                getattr(RTCRtpReceiver, "_RTCRtpReceiver__stop_decoder", None),
                "_RTCRtpReceiver__decoder_queue",
                "put",
                "join",
            )
        ),
    ),
    Requirement(
        "aiortc.rtcrtpreceiver.decoder_worker takes its frames with input_q.get()",
        "the idle decoder thread must block in FrameHandOff.get until the receiver stops",
        lambda: uses(getattr(aiortc.rtcrtpreceiver, "decoder_worker", None), "get"),
    ),
    Requirement(
        "aiortc.jitterbuffer.JitterFrame(data, timestamp)",
        "what the jitter buffer hands the decoder",
        lambda: _jitter_frame_ok(),
    ),
)


def _jitter_frame_ok() -> bool:
    try:
        frame = aiortc.jitterbuffer.JitterFrame(data=b"x", timestamp=1)
    except Exception:
        return False
    return frame.data == b"x" and frame.timestamp == 1


def remb_packet(
    receiver: RTCRtpReceiver, bitrate: int, ssrcs: list[int]
) -> aiortc.rtp.RtcpPsfbPacket | None:
    """A REMB from ``receiver`` about the media ``ssrcs``: None until aiortc has given the
    receiver its RTCP SSRC (that of the paired sender)."""
    # aiortc private: RTCRtpReceiver.__rtcp_ssrc
    rtcp_ssrc = getattr(receiver, "_RTCRtpReceiver__rtcp_ssrc", None)
    if rtcp_ssrc is None:
        return None
    return aiortc.rtp.RtcpPsfbPacket(
        fmt=aiortc.rtp.RTCP_PSFB_APP,
        ssrc=rtcp_ssrc,
        media_ssrc=0,
        fci=aiortc.rtp.pack_remb_fci(bitrate, ssrcs),
    )


class ReceiverHooks:
    """Upstream feedback for one prepared receiver (the server's receiver of a browser's track)."""

    REMB_CAP_TTL = 5.0
    """A downstream REMB older than this no longer caps the upstream estimate."""

    def __init__(self, receiver: RTCRtpReceiver, kind: str, hand_off: FrameHandOff) -> None:
        self.receiver = receiver
        self.kind = kind
        self.hand_off = hand_off
        self.rtx_ssrcs: frozenset[int] = frozenset()
        self.remb_cap: int | None = None
        self.remb_cap_at = 0.0
        self.last_estimate: int | None = None
        self.rembs_capped = 0
        self.rembs_sent = 0
        self.lane: ReceiveLane | None = None
        self._send_rtcp_unhooked: Callable[[Any], Awaitable[None]] = receiver._send_rtcp

    def deliver_frames_to(self, listener: FrameListener | None) -> None:
        """Each frame the receiver completes goes to ``listener(codec, frame)`` in the call
        that completed it; with no listener (None) frames are counted and dropped."""
        self.hand_off.listen(listener)

    def buffer_counters(self) -> dict[str, int]:
        """What the receiver's forwarding buffer threw away: packets that came too late
        (after their frame was released or skipped) and holes given up on."""
        buffer = jitter_buffer_of(self.receiver)
        return {
            "late_packets": int(getattr(buffer, "late_dropped", 0)),
            "holes_skipped": int(getattr(buffer, "holes_skipped", 0)),
        }

    @property
    def estimating_uplink(self) -> bool:
        """Whether the server's own estimate of the browser's uplink is running."""
        return self.lane is not None and self.lane.estimating

    def media_ssrcs(self) -> list[int]:
        """SSRCs the browser is sending media on (RTX repair streams left out)."""
        sources = self.receiver.getSynchronizationSources()
        return [s.source for s in sources if s.source not in self.rtx_ssrcs]

    async def send_pli(self) -> int:
        """Ask the browser for a keyframe; returns how many SSRCs were asked."""
        ssrcs = self.media_ssrcs()
        for ssrc in ssrcs:
            # aiortc private: RTCRtpReceiver._send_rtcp_pli(media_ssrc)
            await self.receiver._send_rtcp_pli(ssrc)
        return len(ssrcs)

    def set_remb_cap(self, bitrate: int | None, *, covers_uplink: bool = False) -> None:
        """What the downstream legs' REMB allows (None: no fresh one). A REMB that
        ``covers_uplink`` came from a browser that saw the party's own send times: it
        measured the whole path, so while it is fresh the server's own estimate pauses
        (:meth:`ReceiveLane.pause_estimate`) and no longer caps what is relayed."""
        self.remb_cap = bitrate
        self.remb_cap_at = time.monotonic()
        lane = self.lane
        if lane is None:
            return
        if bitrate is not None and covers_uplink:
            lane.pause_estimate(self.REMB_CAP_TTL, bitrate)
            self.last_estimate = None  # it stops being renewed from now on
        else:
            lane.resume_estimate()

    def current_cap(self) -> int | None:
        if self.remb_cap is None or time.monotonic() - self.remb_cap_at > self.REMB_CAP_TTL:
            return None
        return self.remb_cap

    async def send_remb(self, bitrate: int) -> bool:
        """Send a REMB for the browser's media SSRCs, never above our own estimate while
        there is one (see :meth:`set_remb_cap`)."""
        ssrcs = self.media_ssrcs()
        if self.last_estimate is not None:
            bitrate = min(bitrate, self.last_estimate)
        packet = remb_packet(self.receiver, bitrate, ssrcs) if ssrcs else None
        if packet is None:
            return False
        await self._send_rtcp_unhooked(packet)
        self.rembs_sent += 1
        return True

    def _wrap_send_rtcp(self) -> None:
        # aiortc private: RTCRtpReceiver._send_rtcp(packet), which the receiver uses
        # for RR, NACK, PLI and its bandwidth estimator's REMB. Wrapped per instance
        # so aiortc's REMB is capped by the downstream legs' REMB.
        self._send_rtcp_unhooked = self.receiver._send_rtcp

        async def send_rtcp(packet: Any) -> None:
            await self._send_rtcp_unhooked(self._cap_outgoing(packet))

        self.receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]

    def _cap_outgoing(self, packet: Any) -> Any:
        """aiortc's own REMB (from its bandwidth estimator) capped by the downstream one."""
        if not (
            isinstance(packet, aiortc.rtp.RtcpPsfbPacket) and packet.fmt == aiortc.rtp.RTCP_PSFB_APP
        ):
            return packet
        try:
            bitrate, ssrcs = aiortc.rtp.unpack_remb_fci(packet.fci)
        except ValueError:
            return packet
        self.last_estimate = bitrate
        cap = self.current_cap()
        if cap is None or bitrate <= cap:
            return packet
        self.rembs_capped += 1
        return aiortc.rtp.RtcpPsfbPacket(
            fmt=packet.fmt,
            ssrc=packet.ssrc,
            media_ssrc=packet.media_ssrc,
            fci=aiortc.rtp.pack_remb_fci(cap, ssrcs),
        )


RECEIVER_HOOKS_REQUIRES = (
    Requirement(
        "RTCRtpReceiver._RTCRtpReceiver__rtcp_ssrc",
        "sender SSRC of the REMB packets relayed upstream",
        lambda: receiver_has("_RTCRtpReceiver__rtcp_ssrc"),
    ),
    Requirement(
        "RTCRtpReceiver._send_rtcp_pli(media_ssrc) (coroutine)",
        "keyframe requests upstream",
        lambda: is_coroutine_function(RTCRtpReceiver, "_send_rtcp_pli"),
    ),
    Requirement(
        "RTCRtpReceiver._send_rtcp(packet) (coroutine)",
        "REMB upstream, and capping aiortc's own REMB",
        lambda: (
            is_coroutine_function(RTCRtpReceiver, "_send_rtcp")
            and uses(RTCRtpReceiver._handle_rtp_packet, "_send_rtcp")
        ),
    ),
    Requirement(
        "aiortc.rtp.RtcpPsfbPacket, RTCP_PSFB_APP, pack_remb_fci, unpack_remb_fci",
        "building REMB upstream, reading and capping aiortc's own",
        lambda: all(
            hasattr(aiortc.rtp, n)
            for n in ("RtcpPsfbPacket", "RTCP_PSFB_APP", "pack_remb_fci", "unpack_remb_fci")
        ),
    ),
)


def prepare_receiver(
    receiver: RTCRtpReceiver, kind: str, *, low_latency_audio: bool = True
) -> ReceiverHooks:
    """Make ``receiver`` hand its encoded frames to a listener instead of a decoder, and
    return its hooks (:meth:`ReceiverHooks.deliver_frames_to` names the listener).

    Call before the peer connection starts the receiver (i.e. right after
    ``addTransceiver``, before ``setRemoteDescription``).
    """
    verify_aiortc()
    hand_off = FrameHandOff()
    hooks = ReceiverHooks(receiver, kind, hand_off)
    # aiortc private: RTCRtpReceiver.__decoder_queue
    receiver._RTCRtpReceiver__decoder_queue = hand_off  # type: ignore[attr-defined]

    if kind == "audio" and low_latency_audio:
        # aiortc private: RTCRtpReceiver.__jitter_buffer (JitterBuffer(capacity=16, prefetch=4))
        receiver._RTCRtpReceiver__jitter_buffer = ForwardingAudioBuffer()  # type: ignore[attr-defined]
    elif kind == "video":
        # aiortc private: RTCRtpReceiver.__codecs (payload type -> codec, filled by receive())
        codecs: dict[int, Any] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__jitter_buffer = ForwardingVideoBuffer(  # type: ignore[attr-defined]
            hand_off.put_frame, codecs.get
        )

    hooks._wrap_send_rtcp()
    buffer = jitter_buffer_of(receiver)
    if isinstance(buffer, ForwardingAudioBuffer | ForwardingVideoBuffer):
        # aiortc's own JitterBuffer reads RtpPacket._data: only our buffers take the lane.
        hooks.lane = ReceiveLane(receiver, buffer, hand_off)
        hooks.lane.take_over_receive()
    return hooks


def hand_off_of(receiver: RTCRtpReceiver) -> FrameHandOff | None:
    """The receiver's :class:`FrameHandOff` if it was prepared (for stats and tests)."""
    # aiortc private: RTCRtpReceiver.__decoder_queue
    hand_off = getattr(receiver, "_RTCRtpReceiver__decoder_queue", None)
    return hand_off if isinstance(hand_off, FrameHandOff) else None


def jitter_buffer_of(receiver: RTCRtpReceiver) -> object:
    """The receiver's jitter buffer (for stats and tests)."""
    # aiortc private: RTCRtpReceiver.__jitter_buffer
    return getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)


PREPARE_RECEIVER_REQUIRES = (
    Requirement(
        "RTCRtpReceiver._RTCRtpReceiver__jitter_buffer (.add(packet) in _handle_rtp_packet)",
        "replaced on audio receivers by ForwardingAudioBuffer (no 80 ms prefetch)",
        lambda: (
            receiver_has("_RTCRtpReceiver__jitter_buffer")
            and uses(RTCRtpReceiver._handle_rtp_packet, "_RTCRtpReceiver__jitter_buffer", "add")
        ),
    ),
    Requirement(
        "RTCRtpReceiver._RTCRtpReceiver__codecs (payload type -> RTCRtpCodecParameters)",
        "ForwardingVideoBuffer names the codec of the frames it hands over",
        lambda: (
            receiver_has("_RTCRtpReceiver__codecs")
            and uses(RTCRtpReceiver._handle_rtp_packet, "_RTCRtpReceiver__codecs")
        ),
    ),
    Requirement(
        "aiortc.rtcrtpreceiver.TimestampMapper().map(timestamp)",
        "ForwardingVideoBuffer rebases RTP timestamps as aiortc does before its decoder queue",
        lambda: callable(
            getattr(getattr(aiortc.rtcrtpreceiver, "TimestampMapper", None), "map", None)
        ),
    ),
)

REQUIREMENTS = FRAME_HAND_OFF_REQUIRES + RECEIVER_HOOKS_REQUIRES + PREPARE_RECEIVER_REQUIRES
