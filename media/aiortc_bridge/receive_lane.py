"""A prepared receiver's RTP in one plain call: :class:`RtpInput` takes it off the DTLS
transport, :class:`ReceiveLane` does what aiortc's packet handler does with it.

On a transport with prepared receivers, :class:`RtpInput` stands in for
``RTCDtlsTransport._handle_rtp_data``: it reads the packet's fixed header only
(:mod:`media.rtp.reader`), routes it with aiortc's own router and hands it to the
receiver's :class:`ReceiveLane`, which does what ``RTCRtpReceiver._handle_rtp_packet``
does, step for step, on the receiver's own statistics, NACK generator and bandwidth
estimator, without a full ``RtpPacket``, two coroutines and a VP8 descriptor object per
packet.

Every packet still gets aiortc's receiver bookkeeping (statistics, NACK, and the bandwidth
estimate while nobody downstream reports) and is depayloaded: the recorder needs whole
frames, and the legs forward whole frames so a reconnect or an overflow always cuts at a
frame. See bench/README.md for where the CPU goes.

Send times are carried end to end, as Janus does: while a downstream browser's REMB that
measured the party's own send times is relayed, the server's own estimate is not fed
(:meth:`ReceiveLane.pause_estimate`); it resumes when the far browser stops reporting.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

import aiortc
import aiortc.clock
import aiortc.codecs
import aiortc.rtcdtlstransport
import aiortc.rtcrtpreceiver
import aiortc.rtp
from aiortc import RTCRtpReceiver

from media.aiortc_bridge.guard import Requirement, code_names, receiver_has, uses
from media.aiortc_bridge.receiver_bookkeeping import QuickNackGenerator, QuickStreamStatistics
from media.aiortc_bridge.run_now import run_now
from media.bitstream import codec_name
from media.log import Log
from media.rtp.jitter_buffers import ForwardingAudioBuffer, ForwardingVideoBuffer
from media.rtp.reader import InboundRtp, abs_send_time_of, parse_rtp, unwrap_rtx, vp8_payload
from media.rtp.uplink_estimate import RembThrottle, UplinkEstimator
from media.rtp.writer import ABS_SEND_TIME_URI, ntp_ms

if TYPE_CHECKING:
    from media.aiortc_bridge.receive import FrameHandOff

logger = logging.getLogger(__name__)


_HANDLE_RTP_NAMES = frozenset(
    {
        "RTCP_PSFB_APP", "RtcpPsfbPacket", "StreamStatistics", "ValueError",
        "_RTCRtpReceiver__active_ssrc", "_RTCRtpReceiver__codecs",
        "_RTCRtpReceiver__decoder_error", "_RTCRtpReceiver__decoder_queue",
        "_RTCRtpReceiver__decoder_thread", "_RTCRtpReceiver__jitter_buffer",
        "_RTCRtpReceiver__kind", "_RTCRtpReceiver__log_debug",
        "_RTCRtpReceiver__nack_generator", "_RTCRtpReceiver__remote_bitrate_estimator",
        "_RTCRtpReceiver__remote_streams", "_RTCRtpReceiver__rtcp_ssrc",
        "_RTCRtpReceiver__rtx_ssrc", "_RTCRtpReceiver__timestamp_mapper", "_data", "_enabled",
        "_send_rtcp", "_send_rtcp_nack", "_send_rtcp_pli", "abs_send_time", "add", "clear",
        "clock", "clockRate", "current_datetime", "depayload", "extensions", "get", "int",
        "is_rtx", "is_set", "isinstance", "len", "map", "missing", "pack_remb_fci",
        "padding_size", "parameters", "payload", "payload_type", "put", "sorted", "ssrc",
        "timestamp", "unwrap_rtx",
    }
)  # fmt: skip
"""What aiortc 1.16.0's ``_handle_rtp_packet`` reads, as ReceiveLane was written from it."""

_LANE_STATE = (
    "remote_bitrate_estimator",
    "active_ssrc",
    "codecs",
    "remote_streams",
    "rtx_ssrc",
    "nack_generator",
    "decoder_error",
    "decoder_thread",
    "timestamp_mapper",
    "kind",
    "rtcp_ssrc",
)


ACTIVE_SOURCE_REFRESH_MS = 100
"""How often the lane renews an SSRC's last-heard time (aiortc renews it every packet)."""


class ReceiveLane:
    """What ``RTCRtpReceiver._handle_rtp_packet`` does with a packet, done for a prepared
    receiver in one plain call on an :class:`~media.rtp.reader.InboundRtp`.

    Same steps, same order, on the receiver's own state objects where it has them: the
    bandwidth estimate (aiortc's estimator,
    :class:`~media.rtp.uplink_estimate.UplinkEstimator`, giving the same values), the
    active-source clock, the receiver's ``StreamStatistics`` (its Receiver Reports and
    ``getStats``), RTX unwrapping, aiortc's NACK generator (both as
    :mod:`media.aiortc_bridge.receiver_bookkeeping` subclasses, same values, fewer calls),
    then depayloading and the forwarding buffer, whose frames go to the hand-off. What it
    leaves out is the cost of aiortc's way there: a full ``RtpPacket`` with every header
    extension decoded, two coroutine frames, a debug-log call and a descriptor object per
    VP8 packet. Two things it does less often than aiortc: a REMB goes out as a browser
    sends one (:class:`~media.rtp.uplink_estimate.RembThrottle`), through the receiver's
    ``_send_rtcp`` and so capped as ever by
    :class:`~media.aiortc_bridge.receive.ReceiverHooks`; a source's last-heard time is
    renewed every ``ACTIVE_SOURCE_REFRESH_MS``. RTCP it sends goes through
    :func:`~media.aiortc_bridge.run_now.run_now`, as aiortc would have awaited it.
    """

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        buffer: ForwardingAudioBuffer | ForwardingVideoBuffer,
        hand_off: FrameHandOff,
        log: Log | None = None,
    ) -> None:
        self.receiver = receiver
        self._buffer = buffer
        self._hand_off = hand_off
        self._log = log or logger
        # aiortc private: the receiver's per-packet state, the objects _handle_rtp_packet uses
        # (each created in __init__ and only mutated after, never replaced).
        state = {name: getattr(receiver, f"_RTCRtpReceiver__{name}") for name in _LANE_STATE}
        if state["nack_generator"] is not None:  # video: the same generator, fewer calls
            state["nack_generator"] = QuickNackGenerator()
            receiver._RTCRtpReceiver__nack_generator = state["nack_generator"]  # type: ignore[attr-defined]
        # aiortc's estimator, its per-packet path in one call (media.rtp.uplink_estimate); the
        # receiver's own one (video receivers only) is never fed once the lane runs, so it
        # is let go: its RateCounter holds 1001 bucket objects, never read (50 000 of the
        # 115 000 objects in the collector's oldest generation at 25 consults).
        self._estimator = (
            UplinkEstimator() if state["remote_bitrate_estimator"] is not None else None
        )
        receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
        self._last_arrival_ms = 0
        self._estimate_paused_until_ms = 0
        self._estimate_resumes_from: int | None = None
        self._remb_throttle = RembThrottle()
        self._heard_ms: dict[int, int] = {}
        self._active_ssrc: dict[int, Any] = state["active_ssrc"]
        self._codecs: dict[int, Any] = state["codecs"]
        self._streams: dict[int, aiortc.rtcrtpreceiver.StreamStatistics] = state["remote_streams"]
        self._rtx_ssrc: dict[int, int] = state["rtx_ssrc"]
        self._nack: aiortc.rtcrtpreceiver.NackGenerator | None = state["nack_generator"]
        self._decoder_error: threading.Event = state["decoder_error"]
        self._timestamps: aiortc.rtcrtpreceiver.TimestampMapper = state["timestamp_mapper"]
        self._video = state["kind"] == "video"
        self._depayloaders: dict[int, tuple[Any, Callable[[bytes], bytes] | None]] = {}
        self.abs_send_time_id: int | None = None
        self.packets = 0

    def take_over_receive(self) -> None:
        """Wrap the receiver's ``receive()`` so that, once aiortc has registered it on its
        transport, the transport's RTP comes through :class:`RtpInput` to this lane."""
        receiver = self.receiver
        receive = receiver.receive

        async def receive_through_lane(parameters: Any) -> None:
            await receive(parameters)
            self.abs_send_time_id = next(
                (e.id for e in parameters.headerExtensions if e.uri == ABS_SEND_TIME_URI), None
            )
            if isinstance(self._buffer, ForwardingVideoBuffer):
                self._buffer.send_time_id = self.abs_send_time_id
            RtpInput.install(receiver.transport, self._log).add(self)

        receiver.receive = receive_through_lane  # type: ignore[method-assign]

    def handle(self, packet: InboundRtp, arrival_time_ms: int) -> None:
        receiver = self.receiver
        if not receiver._enabled:
            return
        self.packets += 1
        estimator = self._estimator
        if (
            estimator is not None
            and self.abs_send_time_id is not None
            and arrival_time_ms >= self._estimate_paused_until_ms
        ):
            if self._estimate_resumes_from is not None:
                estimator = self._resume_estimate(arrival_time_ms)
            send_time = abs_send_time_of(packet, self.abs_send_time_id)
            if send_time is not None:
                # The wall clock may step back; the estimator's rate window must not.
                arrival_time_ms = max(arrival_time_ms, self._last_arrival_ms)
                self._last_arrival_ms = arrival_time_ms
                remb = estimator.add(
                    abs_send_time=send_time,
                    arrival_time_ms=arrival_time_ms,
                    payload_size=len(packet.payload) + packet.padding_size,
                    ssrc=packet.ssrc,
                )
                if remb is not None:
                    self._send_remb(remb, arrival_time_ms)

        # getSynchronizationSources lists what was heard within 10 s: a datetime per SSRC
        # every ACTIVE_SOURCE_REFRESH_MS is as good as one per packet, and much cheaper.
        heard_ms = self._heard_ms.get(packet.ssrc)
        if heard_ms is None or abs(arrival_time_ms - heard_ms) >= ACTIVE_SOURCE_REFRESH_MS:
            self._heard_ms[packet.ssrc] = arrival_time_ms
            self._active_ssrc[packet.ssrc] = aiortc.clock.current_datetime()
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        stream = self._streams.get(packet.ssrc)
        if stream is None:
            stream = self._streams[packet.ssrc] = QuickStreamStatistics(codec.clockRate)
        stream.add(cast(Any, packet))  # duck-typed: see _reads_only_inbound_fields

        depayload = self._depayloader(packet.payload_type, codec)
        if depayload is None:  # a retransmission: the original packet is inside
            original_ssrc = self._rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if (
                original_ssrc is None
                or len(packet.payload) < 2
                or not isinstance(apt, int)
                or apt not in self._codecs
            ):
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = self._codecs[apt]
            depayload = self._depayloader(apt, codec)
            if depayload is None:
                return

        nack = self._nack
        if nack is not None and nack.add(cast(Any, packet)):
            # aiortc private: RTCRtpReceiver._send_rtcp_nack(media_ssrc, lost)
            run_now(receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing)), self._log)

        if packet.payload:
            try:
                packet.data = depayload(packet.payload)
            except ValueError:
                return  # aiortc drops a payload it cannot parse too

        pli, frame = self._buffer.add(packet)
        if self._decoder_error.is_set():
            self._decoder_error.clear()
            pli = pli or self._video
        if pli:
            run_now(receiver._send_rtcp_pli(packet.ssrc), self._log)
        # aiortc private: RTCRtpReceiver.__decoder_thread (started by receive())
        if frame is not None and receiver._RTCRtpReceiver__decoder_thread:  # type: ignore[attr-defined]
            frame.timestamp = self._timestamps.map(frame.timestamp)
            self._hand_off.put_frame(codec, frame)

    def pause_estimate(self, seconds: float, bitrate: int) -> None:
        """A downstream REMB that measures the party's uplink too (its packets went out
        under the party's own send times) is being relayed at ``bitrate``: the server's
        own estimate is not needed for ``seconds``, and is not fed meanwhile. Renewed by
        each such REMB; when they stop, the estimate starts again from ``bitrate``."""
        self._estimate_paused_until_ms = ntp_ms(time.time()) + int(seconds * 1000)
        self._estimate_resumes_from = bitrate

    def resume_estimate(self) -> None:
        """Estimate again from the next packet (the relayed REMB no longer covers the uplink)."""
        self._estimate_paused_until_ms = 0

    @property
    def estimating(self) -> bool:
        """Whether the server's own estimate is being fed (not paused by a relayed REMB)."""
        return (
            self._estimator is not None
            and self.abs_send_time_id is not None
            and self._estimate_resumes_from is None
        )

    def _resume_estimate(self, now_ms: int) -> UplinkEstimator:
        """A fresh estimator, starting from the last relayed bitrate: what the paused one
        knew of arrival times and rates is stale."""
        bitrate = self._estimate_resumes_from
        self._estimate_resumes_from = None
        estimator = self._estimator = UplinkEstimator()
        if bitrate is not None:
            estimator.start_from(bitrate, now_ms)
        return estimator

    def _send_remb(self, remb: tuple[int, list[int]], now_ms: int) -> None:
        receiver = self.receiver
        # aiortc private: RTCRtpReceiver.__rtcp_ssrc (the paired sender's SSRC)
        rtcp_ssrc = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
        if rtcp_ssrc is not None and self._remb_throttle.due(remb[0], now_ms):
            feedback = aiortc.rtp.RtcpPsfbPacket(
                fmt=aiortc.rtp.RTCP_PSFB_APP,
                ssrc=rtcp_ssrc,
                media_ssrc=0,
                fci=aiortc.rtp.pack_remb_fci(*remb),
            )
            run_now(receiver._send_rtcp(feedback), self._log)

    def _depayloader(self, payload_type: int, codec: Any) -> Callable[[bytes], bytes] | None:
        """How this payload type's payloads become bitstream; None for RTX."""
        known = self._depayloaders.get(payload_type)
        if known is not None and known[0] is codec:
            return known[1]
        name = codec_name(codec.mimeType)
        depayload: Callable[[bytes], bytes] | None
        if name == "rtx":
            depayload = None
        elif name == "vp8":
            depayload = vp8_payload
        elif name == "h264":
            depayload = functools.partial(aiortc.codecs.depayload, codec)
        else:
            depayload = _as_it_came
        self._depayloaders[payload_type] = (codec, depayload)
        return depayload


def _as_it_came(payload: bytes) -> bytes:
    return payload


RECEIVE_LANE_REQUIRES = (
    Requirement(
        "RTCRtpReceiver._handle_rtp_packet reads exactly the names ReceiveLane was written "
        "from (bandwidth estimator, __active_ssrc, __codecs, StreamStatistics, RTX unwrap, "
        "NACK generator, depayload, __jitter_buffer, __decoder_error, __decoder_queue)",
        "ReceiveLane repeats each of its steps for a prepared receiver; a step added or "
        "removed upstream changes these names and must be looked at",
        lambda: frozenset(code_names(RTCRtpReceiver._handle_rtp_packet)) == _HANDLE_RTP_NAMES,
    ),
    Requirement(
        "RTCRtpReceiver instances hold __remote_bitrate_estimator, __active_ssrc, "
        "__remote_streams, __rtx_ssrc, __nack_generator, __decoder_error, __decoder_thread, "
        "__timestamp_mapper, __kind, _enabled",
        "ReceiveLane works on the receiver's own per-packet state",
        lambda: receiver_has(*(f"_RTCRtpReceiver__{n}" for n in _LANE_STATE), "_enabled"),
    ),
    Requirement(
        "RTCRtpReceiver.receive registers the receiver on its own transport "
        "(__transport._register_rtp_receiver), the transport its RTP then comes from",
        "ReceiveLane installs RtpInput on receiver.transport right after receive()",
        lambda: uses(
            RTCRtpReceiver.receive, "_RTCRtpReceiver__transport", "_register_rtp_receiver"
        ),
    ),
    Requirement(
        "the RtpPacket attributes read by RtpRouter.route_rtp, StreamStatistics.add, "
        "and NackGenerator.add are InboundRtp fields",
        "ReceiveLane hands them an InboundRtp instead of aiortc's RtpPacket",
        lambda: _reads_only_inbound_fields(
            aiortc.rtcdtlstransport.RtpRouter.route_rtp,
            aiortc.rtcrtpreceiver.StreamStatistics.add,
            aiortc.rtcrtpreceiver.NackGenerator.add,
        ),
    ),
    Requirement(
        "aiortc.codecs.depayload depayloads VP8 and H.264 and passes other payloads as they are",
        "ReceiveLane depayloads VP8 itself (media.rtp.reader.vp8_payload), H.264 with aiortc's "
        "depayload, anything else not at all",
        lambda: (
            {n for n in code_names(aiortc.codecs.depayload) if n.endswith("_depayload")}
            == {"vp8_depayload", "h264_depayload"}
        ),
    ),
)


def _reads_only_inbound_fields(*functions: object) -> bool:
    packet_attributes = set(vars(aiortc.rtp.RtpPacket()))
    inbound = set(InboundRtp.__dataclass_fields__)
    return all(
        set(code_names(f)) & packet_attributes <= inbound and code_names(f) for f in functions
    )


class RtpInput:
    """RTP after SRTP on a DTLS transport with prepared receivers: parsed once (header
    only, :func:`~media.rtp.reader.parse_rtp`), routed by aiortc's own router, and handed
    to the receiver's :class:`ReceiveLane` in the same call.

    Takes the place of ``RTCDtlsTransport._handle_rtp_data`` on that transport, so the
    datagrams aiortc's receive task still reads (before
    :class:`~media.aiortc_bridge.srtp.DirectSrtp` takes over, or on a transport without it)
    come here too; ``DirectSrtp`` calls
    :meth:`handle_rtp` without the coroutine. A packet for a receiver that has no lane
    goes to aiortc's handler as before.
    """

    def __init__(self, dtls: aiortc.RTCDtlsTransport, log: Log | None = None) -> None:
        self._log = log or logger
        # aiortc private: RTCDtlsTransport._rtp_router and _handle_rtp_data
        self._router = dtls._rtp_router
        self._aiortc_handle: Callable[[bytes, int], Coroutine[Any, Any, None]] = (
            dtls._handle_rtp_data
        )
        self._lanes: dict[object, ReceiveLane] = {}
        self.unparsable = 0
        dtls._handle_rtp_data = self._handle_rtp_data  # type: ignore[method-assign]

    @classmethod
    def on(cls, dtls: object) -> RtpInput | None:
        """The transport's RtpInput, if one was installed."""
        handler = getattr(dtls, "_handle_rtp_data", None)
        owner = getattr(handler, "__self__", None)
        return owner if isinstance(owner, RtpInput) else None

    @classmethod
    def install(cls, dtls: aiortc.RTCDtlsTransport, log: Log | None = None) -> RtpInput:
        return cls.on(dtls) or cls(dtls, log)

    def add(self, lane: ReceiveLane) -> None:
        self._lanes[lane.receiver] = lane

    def handle_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        try:
            packet = parse_rtp(data)
        except ValueError:
            self.unparsable += 1  # aiortc drops it too
            return
        receiver = self._router.route_rtp(cast(Any, packet))
        if receiver is None:
            return
        lane = self._lanes.get(receiver)
        if lane is None:
            run_now(self._aiortc_handle(data, arrival_time_ms), self._log)
            return
        try:
            lane.handle(packet, arrival_time_ms)
        except Exception:
            self._log.exception("a received RTP packet could not be handled; it is dropped")

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self.handle_rtp(data, arrival_time_ms)


RTP_INPUT_REQUIRES = (
    Requirement(
        "RTCDtlsTransport._handle_rtp_data(data, arrival_time_ms): RtpPacket.parse, "
        "_rtp_router.route_rtp(packet), receiver._handle_rtp_packet",
        "RtpInput takes its place on a transport with prepared receivers",
        lambda: (
            uses(
                aiortc.rtcdtlstransport.RTCDtlsTransport._handle_rtp_data,
                "parse",
                "_rtp_router",
                "route_rtp",
                "_handle_rtp_packet",
            )
            and uses(aiortc.rtcdtlstransport.RTCDtlsTransport.__init__, "_rtp_router")
        ),
    ),
)

REQUIREMENTS = RECEIVE_LANE_REQUIRES + RTP_INPUT_REQUIRES
