"""Encoded-frame forwarding: the one sanctioned reach into aiortc's internals.

aiortc 1.16 has no public API to receive encoded frames or to see RTCP feedback
on a sender. This module adds exactly that, and nothing else in ``media/`` may
touch an aiortc name that starts with an underscore.

What it does
------------
* **Encoded frames instead of decoded ones, in the call that completed them.**
  aiortc's receiver puts every frame its jitter buffer completes into a
  ``queue.Queue`` read by a decoder thread, which posts each decoded frame back to
  the loop with ``run_coroutine_threadsafe``, where the remote track's ``recv()``
  yields it. For a receiver registered through :func:`prepare_receiver` that queue
  is replaced by a :class:`FrameHandOff`: ``put`` hands the encoded frame (bytes,
  RTP timestamp, RTP payloads) to a listener (:meth:`ReceiverHooks.deliver_frames_to`)
  on the loop, in the same call. The decoder thread aiortc still starts waits idle
  until the receiver stops, and the remote track stays silent. (The thread round
  trip per frame, two GIL hand-offs and a self-pipe wake-up, was the largest single
  cost of a forwarded consult; the track's queue and reader task after it were the
  next.) Other aiortc receivers in the process are untouched and keep decoding.
* **Lower audio latency.** The audio receiver's ``JitterBuffer(prefetch=4)`` holds
  four packets (~80 ms) before releasing one. A forwarding server has no playout
  clock to protect (the browser at the far end runs its own jitter buffer), so a
  prepared audio receiver gets :class:`ForwardingAudioBuffer`, which releases each
  packet as it arrives and drops only late duplicates/reordered packets.
* **Lower video latency, bounded stalls.** aiortc's video ``JitterBuffer`` releases
  a frame only when the first packet of the *next* frame arrives (+1 frame, ~33 ms)
  and, when a lost packet is never repaired, holds everything behind it until 512
  packets have piled up (seconds of frozen video). A prepared video receiver gets
  :class:`ForwardingVideoBuffer`: a frame leaves as soon as its marker packet and
  every packet before it are in; a hole that NACK/RTX has not filled within
  ``GAP_TIMEOUT_S`` is skipped to the next frame start and a keyframe requested.
* **RTP packets out, not frames.** :func:`forward_rtp` makes a downstream sender's
  leg an :class:`RtpLeg`: each forwarded frame goes out as the RTP payloads it
  arrived in (the buffers above keep them, :class:`RtpJitterFrame`) under the leg's
  own header (:mod:`media.rtp_writer`), on the sender's DTLS transport, each packet
  protected and written to the socket in one call (:class:`DirectSend`). aiortc's
  sender keeps negotiating and running RTCP; its re-packetising RTP loop, which cost
  a third of a forwarded consult, stays parked. NACKs are answered over RTX from the
  leg's history, and the Sender Reports count what the leg sent.
* **SRTP in the call that received it.** :class:`DirectSrtp` takes each SRTP/SRTCP
  datagram where aioice hands it over and runs the DTLS transport's own unprotect and
  handlers on it at once, instead of aioice's ``asyncio.Queue`` and a wake-up of the
  transport's receive task per packet.
* **Received RTP in one plain call.** On a transport with prepared receivers,
  :class:`RtpInput` stands in for ``RTCDtlsTransport._handle_rtp_data``: it reads the
  packet's fixed header only (:mod:`media.rtp_reader`), routes it with aiortc's own
  router and hands it to the receiver's :class:`ReceiveLane`, which does what
  ``RTCRtpReceiver._handle_rtp_packet`` does, step for step, on the receiver's own
  statistics, NACK generator and bandwidth estimator, without a full ``RtpPacket``, two
  coroutines and a VP8 descriptor object per packet.
* **RTCP feedback.** :func:`hook_sender` sees PLI and REMB arriving on a sender
  (aiortc maps PLI to an encoder flag and REMB to an encoder bitrate, both
  ignored for pre-encoded packets). :class:`ReceiverHooks` sends PLI and REMB
  upstream on a receiver, and caps the REMB aiortc's own bandwidth estimator sends
  so that the upstream browser never hears a higher rate than the slowest
  downstream leg can take.
* **Send times carried end to end, as Janus does.** :class:`RtpLeg` forwards each frame
  under the abs-send-time the party's browser stamped on it, so the far browser's REMB
  measures the party's uplink too; while such a REMB is relayed the server's own
  estimate is not fed (:meth:`ReceiveLane.pause_estimate`), and it resumes when the far
  browser stops reporting.

Every aiortc private name used here is listed in :data:`REQUIREMENTS`;
:func:`check_hooks` verifies each on the installed aiortc and :func:`verify_aiortc`
raises :class:`~media.errors.ForwardingHookBroken` if anything moved.

What it does not do
-------------------
* FIR never reaches :func:`hook_sender`: aiortc's ``RtpRouter.route_rtcp`` routes
  payload-specific feedback by ``media_ssrc``, which is 0 in a FIR (RFC 5104 puts
  the target SSRC in the FCI). Browsers ask for VP8/H.264 keyframes with PLI.
* Every packet still gets aiortc's receiver bookkeeping (statistics, NACK, and the
  bandwidth estimate while nobody downstream reports) and is depayloaded: the recorder
  needs whole frames, and the legs forward whole frames so a reconnect or an overflow
  always cuts at a frame. See
  bench/README.md for where the CPU goes.
* The transcoding baseline still reads its track through aiortc's sender, which
  encodes and packetises as usual.
* REMB only: aiortc negotiates no transport-cc, so browsers fall back to REMB.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import threading
import time
import types
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any, cast

import aioice.ice
import aiortc
import aiortc.clock
import aiortc.codecs
import aiortc.jitterbuffer
import aiortc.rtcdtlstransport
import aiortc.rtcicetransport
import aiortc.rtcrtpparameters
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import aiortc.rtp
import pylibsrtp
import pylibsrtp._binding
from aiortc import MediaStreamError, RTCRtpReceiver, RTCRtpSender

from media.errors import ForwardingHookBroken
from media.receiver_bookkeeping import QuickNackGenerator, QuickStreamStatistics
from media.rtp_reader import InboundRtp, abs_send_time_of, parse_rtp, unwrap_rtx, vp8_payload
from media.rtp_writer import (
    ABS_SEND_TIME_URI,
    MID_URI,
    RtpPayloads,
    RtpStreamLayout,
    abs_send_time,
    ntp_ms,
    ntp_time,
    rtp_packet,
    rtx_payload,
)
from media.uplink_estimate import RembThrottle, UplinkEstimator

logger = logging.getLogger(__name__)
Log = logging.Logger | logging.LoggerAdapter[logging.Logger]

SUPPORTED_AIORTC = "1.16."
"""The aiortc minor version this hook was written against (pyproject pins it too)."""


def codec_name(mime_type: str) -> str:
    """ffmpeg's name for an RTP codec: ``video/VP8`` → ``vp8``, ``video/H264`` → ``h264``."""
    return mime_type.split("/", 1)[-1].lower()


# --------------------------------------------------------------------------- guard


@dataclass(frozen=True)
class Requirement:
    """One aiortc internal the hook relies on, and a check that it is still there."""

    name: str
    why: str
    check: Callable[[], bool]


def _code_names(func: object) -> tuple[str, ...]:
    code = getattr(func, "__code__", None)
    return tuple(code.co_names) if code is not None else ()


def _uses(func: object, *names: str) -> bool:
    """The function's bytecode still reads these globals/attributes by name."""
    used = _code_names(func)
    return all(n in used for n in names)


def _probe_receiver() -> RTCRtpReceiver | None:
    # RTCRtpReceiver.__init__ only reads ``transport.state``; a stand-in lets the
    # guard look at a real instance's attributes without opening a socket.
    try:
        return RTCRtpReceiver("audio", cast(Any, types.SimpleNamespace(state="new")))
    except Exception:
        return None


def _receiver_has(*attributes: str) -> bool:
    probe = _probe_receiver()
    return probe is not None and all(hasattr(probe, a) for a in attributes)


def _is_coroutine_function(owner: object, attribute: str) -> bool:
    return inspect.iscoroutinefunction(getattr(owner, attribute, None))


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


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(
        "aiortc.__version__ == 1.16.x",
        "the receiver/sender internals below were read in aiortc 1.16.0",
        lambda: str(getattr(aiortc, "__version__", "")).startswith(SUPPORTED_AIORTC),
    ),
    Requirement(
        "RTCRtpReceiver._RTCRtpReceiver__decoder_queue (.put((codec, frame)) in "
        "_handle_rtp_packet, .put(None) in __stop_decoder, handed to the thread by receive())",
        "replaced per receiver by FrameHandOff so frames reach the track on the loop",
        lambda: (
            _receiver_has("_RTCRtpReceiver__decoder_queue")
            and _uses(RTCRtpReceiver._handle_rtp_packet, "_RTCRtpReceiver__decoder_queue", "put")
            and _uses(RTCRtpReceiver.receive, "_RTCRtpReceiver__decoder_queue", "_track", "_queue")
            and _uses(
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
        lambda: _uses(getattr(aiortc.rtcrtpreceiver, "decoder_worker", None), "get"),
    ),
    Requirement(
        "RTCRtpReceiver._RTCRtpReceiver__jitter_buffer (.add(packet) in _handle_rtp_packet)",
        "replaced on audio receivers by ForwardingAudioBuffer (no 80 ms prefetch)",
        lambda: (
            _receiver_has("_RTCRtpReceiver__jitter_buffer")
            and _uses(RTCRtpReceiver._handle_rtp_packet, "_RTCRtpReceiver__jitter_buffer", "add")
        ),
    ),
    Requirement(
        "RTCRtpReceiver._RTCRtpReceiver__codecs (payload type -> RTCRtpCodecParameters)",
        "ForwardingVideoBuffer names the codec of the frames it hands over",
        lambda: (
            _receiver_has("_RTCRtpReceiver__codecs")
            and _uses(RTCRtpReceiver._handle_rtp_packet, "_RTCRtpReceiver__codecs")
        ),
    ),
    Requirement(
        "aiortc.rtcrtpreceiver.TimestampMapper().map(timestamp)",
        "ForwardingVideoBuffer rebases RTP timestamps as aiortc does before its decoder queue",
        lambda: callable(
            getattr(getattr(aiortc.rtcrtpreceiver, "TimestampMapper", None), "map", None)
        ),
    ),
    Requirement(
        "RTCRtpReceiver._handle_rtp_packet reads exactly the names ReceiveLane was written "
        "from (bandwidth estimator, __active_ssrc, __codecs, StreamStatistics, RTX unwrap, "
        "NACK generator, depayload, __jitter_buffer, __decoder_error, __decoder_queue)",
        "ReceiveLane repeats each of its steps for a prepared receiver; a step added or "
        "removed upstream changes these names and must be looked at",
        lambda: frozenset(_code_names(RTCRtpReceiver._handle_rtp_packet)) == _HANDLE_RTP_NAMES,
    ),
    Requirement(
        "RTCRtpReceiver instances hold __remote_bitrate_estimator, __active_ssrc, "
        "__remote_streams, __rtx_ssrc, __nack_generator, __decoder_error, __decoder_thread, "
        "__timestamp_mapper, __kind, _enabled",
        "ReceiveLane works on the receiver's own per-packet state",
        lambda: _receiver_has(*(f"_RTCRtpReceiver__{n}" for n in _LANE_STATE), "_enabled"),
    ),
    Requirement(
        "RTCRtpReceiver.receive registers the receiver on its own transport "
        "(__transport._register_rtp_receiver), the transport its RTP then comes from",
        "ReceiveLane installs RtpInput on receiver.transport right after receive()",
        lambda: _uses(
            RTCRtpReceiver.receive, "_RTCRtpReceiver__transport", "_register_rtp_receiver"
        ),
    ),
    Requirement(
        "RTCDtlsTransport._handle_rtp_data(data, arrival_time_ms): RtpPacket.parse, "
        "_rtp_router.route_rtp(packet), receiver._handle_rtp_packet",
        "RtpInput takes its place on a transport with prepared receivers",
        lambda: (
            _uses(
                aiortc.rtcdtlstransport.RTCDtlsTransport._handle_rtp_data,
                "parse",
                "_rtp_router",
                "route_rtp",
                "_handle_rtp_packet",
            )
            and _uses(aiortc.rtcdtlstransport.RTCDtlsTransport.__init__, "_rtp_router")
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
        "ReceiveLane depayloads VP8 itself (rtp_reader.vp8_payload), H.264 with aiortc's "
        "depayload, anything else not at all",
        lambda: (
            {n for n in _code_names(aiortc.codecs.depayload) if n.endswith("_depayload")}
            == {"vp8_depayload", "h264_depayload"}
        ),
    ),
    Requirement(
        "RTCRtpReceiver._RTCRtpReceiver__rtcp_ssrc",
        "sender SSRC of the REMB packets relayed upstream",
        lambda: _receiver_has("_RTCRtpReceiver__rtcp_ssrc"),
    ),
    Requirement(
        "RTCRtpReceiver._send_rtcp_pli(media_ssrc) (coroutine)",
        "keyframe requests upstream",
        lambda: _is_coroutine_function(RTCRtpReceiver, "_send_rtcp_pli"),
    ),
    Requirement(
        "RTCRtpReceiver._send_rtcp(packet) (coroutine)",
        "REMB upstream, and capping aiortc's own REMB",
        lambda: (
            _is_coroutine_function(RTCRtpReceiver, "_send_rtcp")
            and _uses(RTCRtpReceiver._handle_rtp_packet, "_send_rtcp")
        ),
    ),
    Requirement(
        "RTCRtpSender._handle_rtcp_packet(packet) (coroutine) called by "
        "RTCDtlsTransport._handle_rtcp_data",
        "wrapped per sender to see PLI/FIR/REMB from the downstream browser",
        lambda: (
            _is_coroutine_function(RTCRtpSender, "_handle_rtcp_packet")
            and _uses(
                aiortc.rtcdtlstransport.RTCDtlsTransport._handle_rtcp_data, "_handle_rtcp_packet"
            )
        ),
    ),
    Requirement(
        "RTCRtpSender._ssrc",
        "a downstream REMB is only ours if it names this sender's SSRC",
        lambda: _uses(RTCRtpSender.__init__, "_ssrc"),
    ),
    Requirement(
        "RTCDtlsTransport._send_rtp(data) (coroutine): _state CONNECTED, "
        "_tx_srtp.protect, transport._send, counts __tx_bytes/__tx_packets",
        "DirectSend runs the same steps for RtpLeg's packets in one call (and falls back "
        "to _send_rtp itself on a relayed pair)",
        lambda: (
            _is_coroutine_function(aiortc.rtcdtlstransport.RTCDtlsTransport, "_send_rtp")
            and _uses(
                aiortc.rtcdtlstransport.RTCDtlsTransport._send_rtp,
                "_state",
                "_tx_srtp",
                "protect",
                "_RTCDtlsTransport__tx_bytes",
                "_RTCDtlsTransport__tx_packets",
            )
        ),
    ),
    Requirement(
        "aioice: Connection.sendto sends on _nominated[component] with "
        "pair.protocol.send_data(data, pair.remote_addr); StunProtocol.send_data is "
        "transport.sendto",
        "DirectSend writes to the nominated pair's UDP socket itself",
        lambda: (
            _uses(
                aioice.ice.Connection.sendto, "_nominated", "protocol", "send_data", "remote_addr"
            )
            and _uses(aioice.ice.StunProtocol.send_data, "transport", "sendto")
        ),
    ),
    Requirement(
        "RTCRtpSender._run_rtcp reports _RTCRtpSender__ntp_timestamp / __rtp_timestamp / "
        "__packet_count / __octet_count",
        "RtpLeg keeps the Sender Reports of the stream it sends in step",
        lambda: _uses(
            RTCRtpSender._run_rtcp,
            "_RTCRtpSender__ntp_timestamp",
            "_RTCRtpSender__rtp_timestamp",
            "_RTCRtpSender__packet_count",
            "_RTCRtpSender__octet_count",
        ),
    ),
    Requirement(
        "RTCRtpSender._rtx_ssrc",
        "the SSRC of the RTX stream RtpLeg answers NACKs on",
        lambda: _uses(RTCRtpSender.__init__, "_rtx_ssrc"),
    ),
    Requirement(
        "RTCRtpSender.send starts _run_rtp only (reads the track; never writes RTP otherwise)",
        "RtpLeg parks aiortc's RTP loop on a silent track and sends the packets itself",
        lambda: (
            _uses(RTCRtpSender.send, "_run_rtp", "_run_rtcp")
            and _uses(RTCRtpSender._run_rtp, "_next_encoded_frame")
        ),
    ),
    Requirement(
        "aioice: StunProtocol.datagram_received hands what is not STUN to "
        "receiver.data_received(data, local_candidate.component); Connection.data_received "
        "queues it for recv(); Connection._protocols lists the connection's StunProtocols",
        "DirectSrtp takes SRTP datagrams at Connection.data_received instead of the queue, "
        "and straight from each StunProtocol without the STUN parse",
        lambda: (
            _uses(
                aioice.ice.StunProtocol.datagram_received,
                "parse_message",
                "data_received",
                "local_candidate",
                "component",
            )
            and _uses(aioice.ice.Connection.data_received, "_queue", "put_nowait")
            and _uses(aioice.ice.Connection.__init__, "_protocols")
        ),
    ),
    Requirement(
        "RTCIceTransport._connection (the aioice Connection; also the gatherer's)",
        "DirectSrtp and DirectSend find the ICE connection of a DTLS transport (ice_connection)",
        lambda: (
            _uses(aiortc.rtcicetransport.RTCIceGatherer.__init__, "_connection")
            and _uses(aiortc.rtcicetransport.RTCIceTransport.__init__, "_connection")
        ),
    ),
    Requirement(
        "RTCDtlsTransport._recv_next: a datagram whose first byte is 128-191 is SRTP/SRTCP "
        "once _rx_srtp is set; unprotect → _handle_rtp_data(data, arrival_time_ms) or "
        "unprotect_rtcp → _handle_rtcp_data(data); counts __rx_bytes/__rx_packets; _state",
        "DirectSrtp runs the same steps for a datagram in the call that received it",
        lambda: (
            _uses(
                aiortc.rtcdtlstransport.RTCDtlsTransport._recv_next,
                "_rx_srtp",
                "is_rtcp",
                "unprotect",
                "unprotect_rtcp",
                "_handle_rtp_data",
                "_handle_rtcp_data",
                "current_ms",
                "_RTCDtlsTransport__rx_bytes",
                "_RTCDtlsTransport__rx_packets",
            )
            and _is_coroutine_function(aiortc.rtcdtlstransport.RTCDtlsTransport, "_handle_rtp_data")
            and _is_coroutine_function(
                aiortc.rtcdtlstransport.RTCDtlsTransport, "_handle_rtcp_data"
            )
            and _uses(aiortc.rtcdtlstransport.RTCDtlsTransport._send_rtp, "_state", "CONNECTED")
            and inspect.signature(
                aiortc.rtcdtlstransport.RTCDtlsTransport._handle_rtp_data
            ).parameters.keys()
            >= {"data", "arrival_time_ms"}
        ),
    ),
    Requirement(
        "pylibsrtp: Session._srtp (srtp_t *, freed with the Session), _cdata (char[]) and "
        "_buffer, which protect/unprotect fill and read around lib.srtp_protect / "
        "srtp_unprotect; ERRORS; SRTP_MAX_TRAILER_LEN",
        "RtpProtection calls libsrtp on a Session's own context and buffer",
        lambda: (
            _uses(pylibsrtp.Session.__init__, "_srtp", "_cdata", "_buffer", "srtp_create")
            and _uses(pylibsrtp.Session._Session__process, "_srtp", "_cdata", "_buffer")  # type: ignore[attr-defined]
            and _uses(pylibsrtp.Session.protect, "srtp_protect", "SRTP_MAX_TRAILER_LEN")
            and _uses(pylibsrtp.Session.unprotect, "srtp_unprotect")
            and hasattr(pylibsrtp, "ERRORS")
            and hasattr(pylibsrtp._binding.lib, "srtp_err_status_ok")
        ),
    ),
    Requirement(
        "aiortc.jitterbuffer.JitterFrame(data, timestamp)",
        "what the jitter buffer hands the decoder",
        lambda: _jitter_frame_ok(),
    ),
    Requirement(
        "aiortc.rtp.RtcpPsfbPacket, RtcpRtpfbPacket, RTCP_RTPFB_NACK, RTCP_PSFB_PLI/FIR/APP, "
        "pack_remb_fci, unpack_remb_fci",
        "building and reading PLI/REMB, reading NACK",
        lambda: all(
            hasattr(aiortc.rtp, n)
            for n in (
                "RtcpPsfbPacket",
                "RtcpRtpfbPacket",
                "RTCP_RTPFB_NACK",
                "RTCP_PSFB_PLI",
                "RTCP_PSFB_FIR",
                "RTCP_PSFB_APP",
                "pack_remb_fci",
                "unpack_remb_fci",
            )
        ),
    ),
)


def _reads_only_inbound_fields(*functions: object) -> bool:
    packet_attributes = set(vars(aiortc.rtp.RtpPacket()))
    inbound = set(InboundRtp.__dataclass_fields__)
    return all(
        set(_code_names(f)) & packet_attributes <= inbound and _code_names(f) for f in functions
    )


def _jitter_frame_ok() -> bool:
    try:
        frame = aiortc.jitterbuffer.JitterFrame(data=b"x", timestamp=1)
    except Exception:
        return False
    return frame.data == b"x" and frame.timestamp == 1


def check_hooks() -> list[str]:
    """Every requirement that does not hold on the installed aiortc, as readable lines."""
    problems = []
    for req in REQUIREMENTS:
        try:
            ok = req.check()
        except Exception as exc:
            ok = False
            logger.debug("hook check %s raised %r", req.name, exc)
        if not ok:
            problems.append(f"{req.name} — needed for: {req.why}")
    return problems


# --------------------------------------------------------------------------- frames to packets


class RtpJitterFrame(aiortc.jitterbuffer.JitterFrame):
    """A jitter-buffer frame that also keeps the RTP payloads it was depayloaded from,
    so a downstream leg can forward the packets instead of re-packetising the frame,
    and the party's send time of the packet that completed it (``send_time``, see
    :class:`ForwardingVideoBuffer`)."""

    def __init__(
        self, data: bytes, timestamp: int, rtp: RtpPayloads, send_time: int | None = None
    ) -> None:
        super().__init__(data=data, timestamp=timestamp)
        self.rtp = rtp
        self.send_time = send_time


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


_verified = False


def verify_aiortc(log: Log | None = None) -> None:
    """Check aiortc's internals once per process; raise if anything the hook needs moved."""
    global _verified
    if _verified:
        return
    problems = check_hooks()
    if problems:
        raise ForwardingHookBroken(
            f"aiortc {getattr(aiortc, '__version__', '?')} no longer has what the "
            "encoded-frame forwarding hook (media/forwarding.py) relies on; without it "
            "the server would decode and re-encode every frame. Missing or changed:\n  - "
            + "\n  - ".join(problems)
        )
    _verified = True
    (log or logger).info("encoded-frame forwarding hook verified on aiortc %s", aiortc.__version__)


def forget_verification() -> None:
    """Make the next :func:`verify_aiortc` check again (tests that break aiortc on purpose)."""
    global _verified
    _verified = False


# --------------------------------------------------------------------------- receivers


class ForwardingAudioBuffer:
    """Replaces aiortc's audio ``JitterBuffer`` on a forwarding receiver.

    Each Opus RTP packet is a whole frame, so it can leave as soon as it arrives:
    aiortc's ``prefetch=4`` adds ~80 ms for a playout smoothness that only the
    browser at the far end needs (it has its own jitter buffer). A packet older
    than the newest one released is dropped: forwarding it would send a
    timestamp backwards, and the browser's Opus PLC covers the gap.
    """

    def __init__(self) -> None:
        self._last_seq: int | None = None
        self.late_dropped = 0

    def add(self, packet: InboundRtp) -> tuple[bool, aiortc.jitterbuffer.JitterFrame | None]:
        seq = packet.sequence_number
        if self._last_seq is not None and not _seq_newer(seq, self._last_seq):
            self.late_dropped += 1
            return False, None
        self._last_seq = seq
        rtp: RtpPayloads = ((packet.payload, bool(packet.marker)),) if packet.payload else ()
        return False, RtpJitterFrame(data=packet.data, timestamp=packet.timestamp, rtp=rtp)


def _seq_newer(a: int, b: int) -> bool:
    """RTP sequence number ``a`` comes after ``b`` (16-bit wrap-around)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class ForwardingVideoBuffer:
    """Replaces aiortc's video ``JitterBuffer`` on a forwarding receiver.

    Packets are kept by sequence number. A frame is the run of packets from the one
    after the previous frame's marker up to the next marker; it is handed over as
    soon as that run is complete, in order, with aiortc's depayloaded bytes joined
    (what aiortc's own buffer would hand its decoder, one frame earlier). The stream
    starts at its first packet if that packet begins a frame (VP8: start of partition
    0; H.264: a NAL unit's start), else after the first marker: a frame whose
    beginning was missed is never handed over.

    A missing packet holds the frames behind it (a decoder must not skip a
    reference) until it arrives (NACK/RTX), ``GAP_TIMEOUT_S`` passes, or
    ``MAX_PACKETS`` are waiting; then the buffer skips to the first complete-able
    frame start after the hole and asks for a keyframe (the ``pli_flag`` aiortc's
    receiver acts on). Frames go to ``deliver(codec, frame)`` directly, so a hole
    that fills releases every frame behind it at once; ``add`` never returns one.

    Each frame carries the abs-send-time (extension ``send_time_id``) of the packet
    whose arrival completed it: its last packet as a rule, the retransmission for a
    frame that waited on a hole, and for the frames behind the hole too. The leg
    forwards the frame under that time, so the downstream browser's bandwidth estimate
    measures the party's uplink as well as the server's downlink. A frame held for a
    repair is not stamped with its own last packet's (earlier) time: the hold is loss
    recovery, which the party's browser hears about in receiver reports, not queueing
    that should read as congestion.
    """

    GAP_TIMEOUT_S = 0.5
    """Long enough for a NACK and its retransmission on a poor link (RTT up to ~400 ms),
    short enough to recover long before aiortc's 512-packet overflow. A frame that is
    merely still arriving (a large keyframe paced out over a slow link) is not a hole."""
    MAX_PACKETS = 512

    def __init__(
        self,
        deliver: Callable[[Any, aiortc.jitterbuffer.JitterFrame], None],
        codec_for: Callable[[int], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deliver = deliver
        self._codec_for = codec_for
        self._clock = clock
        self._packets: dict[int, InboundRtp] = {}
        self._next: int | None = None  # first sequence number of the next frame
        # How far the head frame is known to be contiguous from _next: where the next
        # _release resumes its walk, so a frame of n packets costs n steps, not n²/2.
        self._scan: int | None = None
        self._newest = 0
        self._hole_since: float | None = None
        self._timestamps = aiortc.rtcrtpreceiver.TimestampMapper()
        self.send_time_id: int | None = None
        self.frames = 0
        self.late_dropped = 0
        self.holes_skipped = 0

    def add(self, packet: InboundRtp) -> tuple[bool, None]:
        seq = packet.sequence_number
        if self._next is None:
            self._scan = None
            if self._starts_frame(packet):
                self._next = self._newest = seq
            else:
                if packet.marker:
                    self._next = self._newest = (seq + 1) & 0xFFFF
                return False, None
        if seq != self._next and not _seq_newer(seq, self._next):
            self.late_dropped += 1  # already released or skipped
            return False, None
        self._packets[seq] = packet
        if _seq_newer(seq, self._newest):
            self._newest = seq
        missing = self._release(packet)
        if missing is None or not _seq_newer(self._newest, missing):
            # Everything released, or only the newest frame is still arriving.
            self._hole_since = None
            if len(self._packets) < self.MAX_PACKETS:
                return False, None
        now = self._clock()
        if self._hole_since is None:
            self._hole_since = now
        if now - self._hole_since < self.GAP_TIMEOUT_S and len(self._packets) < self.MAX_PACKETS:
            return False, None
        self._skip_hole(packet)
        return True, None

    def _starts_frame(self, packet: InboundRtp) -> bool:
        codec = self._codec_for(packet.payload_type)
        name = codec_name(codec.mimeType) if codec is not None else ""
        payload = packet.payload
        if name == "vp8":
            # VP8 payload descriptor (RFC 7741): S bit set, partition index 0.
            return bool(payload) and payload[0] & 0x17 == 0x10
        if name == "h264":
            # aiortc's depayloader starts a NAL unit with a start code, not a fragment.
            return packet.data.startswith(b"\x00\x00\x00\x01")
        return False

    def _release(self, completing: InboundRtp) -> int | None:
        """Hand over every complete frame at the head, each stamped with ``completing``'s
        send time; the first missing sequence number (None if nothing is waiting)."""
        packets = self._packets
        send_time: int | None = None
        stamped = False
        while packets and self._next is not None:
            seq = self._next if self._scan is None else self._scan
            while seq in packets:
                if packets[seq].marker:
                    break
                seq = (seq + 1) & 0xFFFF
            else:
                self._scan = seq
                return seq  # a hole, or the frame's last packet is still on its way
            run: list[InboundRtp] = []
            position = self._next
            while True:
                run.append(packets.pop(position))
                if position == seq:
                    break
                position = (position + 1) & 0xFFFF
            self._next = (seq + 1) & 0xFFFF
            self._scan = None
            self._hole_since = None
            last = run[-1]
            codec = self._codec_for(last.payload_type)
            if codec is None:
                continue
            data = b"".join([p.data for p in run])
            rtp = tuple([(p.payload, bool(p.marker)) for p in run if p.payload])
            timestamp = self._timestamps.map(last.timestamp)
            if not stamped:  # read once per call, only when a frame leaves
                stamped = True
                if self.send_time_id is not None:
                    send_time = abs_send_time_of(completing, self.send_time_id)
            self.frames += 1
            self._deliver(codec, RtpJitterFrame(data, timestamp, rtp, send_time))
        return None

    def _skip_hole(self, completing: InboundRtp) -> None:
        """Drop the frames the hole broke; resume at the first frame start after it."""
        self.holes_skipped += 1
        start = self._next
        assert start is not None
        ordered = sorted(self._packets, key=lambda s: (s - start) & 0xFFFF)
        resume = next(((s + 1) & 0xFFFF for s in ordered if self._packets[s].marker), None)
        if resume is None:  # no frame ended after the hole: restart at the next marker
            self._packets.clear()
            self._next = None
        else:
            for seq in ordered:
                if (seq - start) & 0xFFFF < (resume - start) & 0xFFFF:
                    del self._packets[seq]
            self._next = resume
        self._scan = None
        self._hole_since = None
        self._release(completing)


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


ACTIVE_SOURCE_REFRESH_MS = 100
"""How often the lane renews an SSRC's last-heard time (aiortc renews it every packet)."""


class ReceiveLane:
    """What ``RTCRtpReceiver._handle_rtp_packet`` does with a packet, done for a prepared
    receiver in one plain call on an :class:`~media.rtp_reader.InboundRtp`.

    Same steps, same order, on the receiver's own state objects where it has them: the
    bandwidth estimate (aiortc's estimator, :class:`~media.uplink_estimate.UplinkEstimator`,
    giving the same values), the active-source clock, the receiver's ``StreamStatistics``
    (its Receiver Reports and ``getStats``), RTX unwrapping, aiortc's NACK generator (both
    as :mod:`media.receiver_bookkeeping` subclasses, same values, fewer calls), then
    depayloading and the forwarding buffer, whose frames go to the hand-off. What it leaves
    out is the cost of aiortc's way there: a full ``RtpPacket`` with every header extension
    decoded, two coroutine frames, a debug-log call and a descriptor object per VP8 packet.
    Two things it does less often than aiortc: a REMB goes out as a browser sends one
    (:class:`~media.uplink_estimate.RembThrottle`), through the receiver's ``_send_rtcp``
    and so capped as ever by :class:`ReceiverHooks`; a source's last-heard time is renewed
    every ``ACTIVE_SOURCE_REFRESH_MS``. RTCP it sends goes through :func:`run_now`, as
    aiortc would have awaited it.
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
        # aiortc's estimator, its per-packet path in one call (media.uplink_estimate); the
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


# --------------------------------------------------------------------------- transports


class RtpInput:
    """RTP after SRTP on a DTLS transport with prepared receivers: parsed once (header
    only, :func:`~media.rtp_reader.parse_rtp`), routed by aiortc's own router, and handed
    to the receiver's :class:`ReceiveLane` in the same call.

    Takes the place of ``RTCDtlsTransport._handle_rtp_data`` on that transport, so the
    datagrams aiortc's receive task still reads (before :class:`DirectSrtp` takes over,
    or on a transport without it) come here too; :class:`DirectSrtp` calls
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


def ice_connection(dtls: aiortc.RTCDtlsTransport) -> aioice.ice.Connection:
    """The aioice connection under a DTLS transport (what DirectSrtp and DirectSend reach)."""
    # aiortc private: RTCIceTransport._connection
    connection: aioice.ice.Connection = dtls.transport._connection
    return connection


class RtpProtection:
    """A pylibsrtp ``Session``'s ``protect``/``unprotect`` for RTP, called on its own libsrtp
    context and buffer without the wrapper's per-call work.

    In the server's profile pylibsrtp's wrapper took as long as libsrtp itself: a method
    layer, a type check, a fresh ``int *`` from cffi, a ``lib`` attribute lookup and the
    context dereferenced per call, around the same copy in, call and copy out as here
    (best of repeated runs, a 1.1 kB packet: 2.9 µs through the wrapper, 2.1 µs here; in
    the server, where such savings count about three times what a tight loop shows, the
    consult's CPU fell 4.5 %).
    The results, errors included, are the wrapper's: the same ``pylibsrtp.Error``
    messages, the same ``ValueError`` for a packet too long for the buffer. Holding the
    session keeps its libsrtp context alive (pylibsrtp frees it when the ``Session`` is
    collected). Single-threaded, as the wrapper is: the buffer is the session's.
    """

    __slots__ = ("_buffer", "_capacity", "_cdata", "_context", "_length", "session")

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.session = session
        # pylibsrtp private: Session._srtp (srtp_t *), _cdata (char[]), _buffer (its bytes)
        self._context = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._capacity = len(self._cdata)
        self._length = pylibsrtp._binding.ffi.new("int *")

    @staticmethod
    def of(session: Any) -> RtpProtection | Any:
        """``session``'s RtpProtection; anything but pylibsrtp's own ``Session`` (a stand-in,
        a subclass) keeps its own ``protect``/``unprotect``."""
        return RtpProtection(session) if type(session) is pylibsrtp.Session else session

    def protect(self, packet: bytes) -> bytes:
        return self._process(packet, _srtp_protect, pylibsrtp.SRTP_MAX_TRAILER_LEN)

    def unprotect(self, packet: bytes) -> bytes:
        return self._process(packet, _srtp_unprotect, 0)

    def _process(self, packet: bytes, call: Callable[..., int], trailer: int) -> bytes:
        size = len(packet)
        if size > self._capacity - trailer:
            raise ValueError("packet is too long")
        self._buffer[0:size] = packet
        length = self._length
        length[0] = size
        status = call(self._context, self._cdata, length)
        if status != _SRTP_OK:
            raise pylibsrtp.Error(pylibsrtp.ERRORS[status])
        return self._buffer[0 : length[0]]


_srtp_protect = pylibsrtp._binding.lib.srtp_protect
_srtp_unprotect = pylibsrtp._binding.lib.srtp_unprotect
_SRTP_OK = pylibsrtp._binding.lib.srtp_err_status_ok


class DirectSrtp:
    """SRTP and SRTCP datagrams go from ICE to the DTLS transport's handlers in one call.

    aioice puts every datagram of a connection on an ``asyncio.Queue``; the DTLS
    transport's receive task takes them off one at a time, through four coroutine
    frames and a task wake-up per packet. Once the transport has its SRTP keys, this
    takes each SRTP datagram where aioice hands it over (``Connection.data_received``)
    and runs what ``RTCDtlsTransport._recv_next`` would run for it — unprotect, then
    the transport's :class:`RtpInput` (or aiortc's own ``_handle_rtp_data``) /
    ``_handle_rtcp_data`` — in the same call.
    Everything else (STUN is answered before this point; DTLS records, SRTP before the
    handshake ends, anything after the transport closes) still takes aioice's queue, and
    so does every datagram while older ones wait there: order is kept. (Without that the
    packets a browser sent during the last handshake flight were handled after newer
    ones, the receiver's first keyframe had a hole, and join → first frame p95 rose
    from 0.7 s to 1.1 s in the benchmark.)

    aiortc's handlers are coroutines that never wait in practice (their only awaits
    end in a non-blocking ``sendto``); :func:`run_now` still hands one that does wait
    to a task. A handler that raises drops that packet and is logged; aiortc's own loop
    would have ended the transport.

    Before any of that, aioice tries to parse every datagram as STUN and catches the
    ``ValueError``: an exception per media packet. RFC 7983 tells the protocols apart by
    the first byte (0–3 STUN, 20–63 DTLS, 128–191 RTP/RTCP), so each of the
    connection's UDP sockets gets a ``datagram_received`` (:meth:`_demultiplex`) that
    hands a 128–191 datagram here at once and everything else to aioice's own method.
    """

    def __init__(self, dtls: aiortc.RTCDtlsTransport, log: Log | None = None) -> None:
        self._dtls = dtls
        self._log = log or logger
        self._connection = ice_connection(dtls)
        self._queued: Callable[[bytes, int], None] = self._connection.data_received
        self._connection.data_received = self.data_received  # type: ignore[method-assign]
        self._rtp_input: RtpInput | None = None
        self._rx_session: object = None  # the last _rx_srtp, and its RtpProtection
        self._rx: Any = None
        self.packets = 0
        self.dropped = 0
        # aioice private: Connection._protocols, one StunProtocol per local socket or TURN
        # allocation (whose client hands it the relayed datagrams unwrapped), all gathered
        # by setLocalDescription, before this runs.
        for protocol in self._connection._protocols:
            if type(protocol) is aioice.ice.StunProtocol:
                self._demultiplex(protocol)

    def _demultiplex(self, protocol: aioice.ice.StunProtocol) -> None:
        """Make ``protocol`` hand RTP and RTCP datagrams straight to :meth:`data_received`.

        The event loop looks ``datagram_received`` up on the protocol for each datagram
        (asyncio's and uvloop's transports both), so an instance attribute takes effect
        at once and leaves every other StunProtocol in the process alone.
        """
        stun_path = protocol.datagram_received
        deliver = self.data_received
        component = protocol.local_candidate.component

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            if data and 127 < data[0] < 192:
                deliver(data, component)
            else:
                stun_path(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign,assignment]

    def data_received(self, data: bytes, component: int) -> None:
        dtls = self._dtls
        # aiortc private: RTCDtlsTransport._rx_srtp (the inbound SRTP session) and _state
        srtp = dtls._rx_srtp
        if (
            srtp is None
            or not data
            or not 127 < data[0] < 192
            or dtls._state is not _DTLS_CONNECTED
            # aioice private: Connection._queue. Datagrams that came before the keys (or
            # while the receive task is behind) are still queued: a newer one must not
            # overtake them, or the first keyframe's packets arrive after the next frame's.
            or self._connection._queue.qsize()
        ):
            self._queued(data, component)
            return
        self.packets += 1
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        try:
            if aiortc.rtp.is_rtcp(data):
                handling = dtls._handle_rtcp_data(srtp.unprotect_rtcp(data))
            else:
                if srtp is not self._rx_session:
                    self._rx_session, self._rx = srtp, RtpProtection.of(srtp)
                rtp = self._rx.unprotect(data)
                rtp_input = self._rtp_input or RtpInput.on(dtls)
                if rtp_input is not None:
                    self._rtp_input = rtp_input
                    rtp_input.handle_rtp(rtp, ntp_ms(time.time()))
                    return
                handling = dtls._handle_rtp_data(rtp, ntp_ms(time.time()))
        except pylibsrtp.Error:
            self.dropped += 1  # replayed or not ours: aiortc drops it too
            return
        run_now(handling, self._log)


_DTLS_CONNECTED = aiortc.rtcdtlstransport.State.CONNECTED
_waiting: set[asyncio.Task[None]] = set()


def run_now(coro: Coroutine[Any, Any, None], log: Log | None = None) -> None:
    """Run ``coro`` to its end inside this call; if it waits on something, a task
    carries it on from there. An exception is logged, not raised."""
    try:
        awaited = coro.send(None)
    except StopIteration:
        return
    except Exception:
        (log or logger).exception("a packet handler failed; the packet is dropped")
        return
    task = asyncio.ensure_future(_carry_on(coro, awaited))
    _waiting.add(task)
    task.add_done_callback(_waiting.discard)


async def _carry_on(coro: Coroutine[Any, Any, None], awaited: object) -> None:
    """What a task would do with a coroutine that yielded ``awaited``: wait until it is
    done, resume, repeat."""
    try:
        while True:
            if isinstance(awaited, asyncio.Future):
                await asyncio.wait((awaited,))
            else:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            try:
                awaited = coro.send(None)
            except StopIteration:
                return
    except asyncio.CancelledError:
        coro.close()
        raise
    except Exception:
        logger.exception("a packet handler failed after waiting; the packet is dropped")


class DirectSend:
    """SRTP-protects an RTP packet and puts it on the wire in the calling frame.

    aiortc's ``RTCDtlsTransport._send_rtp`` reaches the socket through four coroutines
    (its own, aioice's ``Connection.send``, ``sendto`` and ``StunProtocol.send_data``),
    none of which ever waits: the last one is a non-blocking ``sendto``. This does the
    same steps in one plain call — the transport's own outbound SRTP session, the
    nominated pair's socket, the transport's byte and packet counters. A pair that is
    not a plain UDP socket (a TURN relay, whose ``send_data`` wraps the datagram) goes
    through aiortc's path, in order, via :func:`run_now`.
    """

    def __init__(self, dtls: aiortc.RTCDtlsTransport, log: Log | None = None) -> None:
        self.dtls = dtls
        self._log = log or logger
        self._connection = ice_connection(dtls)
        self._tx_session: object = None  # the last _tx_srtp, and its RtpProtection
        self._tx: Any = None

    def send_rtp(self, data: bytes) -> None:
        """Protect and send one RTP packet; ``ConnectionError`` if the transport is not up."""
        dtls = self.dtls
        # aiortc private: RTCDtlsTransport._state and _tx_srtp (the outbound SRTP session)
        if dtls._state is not _DTLS_CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        # aioice private: Connection._nominated (component -> CandidatePair)
        pair = self._connection._nominated.get(1)
        if pair is None:
            raise ConnectionError("Cannot send data, not connected")
        protocol = pair.protocol
        if type(protocol) is not aioice.ice.StunProtocol or protocol.transport is None:
            run_now(dtls._send_rtp(data), self._log)
            return
        srtp = dtls._tx_srtp
        if srtp is not self._tx_session:
            self._tx_session, self._tx = srtp, RtpProtection.of(srtp)
        protected = self._tx.protect(data)
        protocol.transport.sendto(protected, pair.remote_addr)
        dtls._RTCDtlsTransport__tx_bytes += len(protected)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__tx_packets += 1  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- senders


def hook_sender(
    sender: RTCRtpSender,
    *,
    on_keyframe_request: Callable[[str], None],
    on_remb: Callable[[int], None],
    log: Log | None = None,
) -> None:
    """See PLI/FIR and REMB that the downstream browser sends about ``sender``'s stream.

    The callbacks run on the event loop inside aiortc's RTCP handling: they must
    not block. aiortc's own handling still runs afterwards.
    """
    # aiortc private: RTCRtpSender._handle_rtcp_packet, dispatched per instance by
    # RTCDtlsTransport._handle_rtcp_data (``recipient._handle_rtcp_packet(packet)``)
    original: Callable[[Any], Awaitable[None]] = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, aiortc.rtp.RtcpPsfbPacket):
            if packet.fmt == aiortc.rtp.RTCP_PSFB_PLI:
                _safe(log, on_keyframe_request, "pli")
            elif packet.fmt == aiortc.rtp.RTCP_PSFB_FIR:
                _safe(log, on_keyframe_request, "fir")
            elif packet.fmt == aiortc.rtp.RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = aiortc.rtp.unpack_remb_fci(packet.fci)
                except ValueError:
                    bitrate, ssrcs = 0, []
                # aiortc private: RTCRtpSender._ssrc
                if sender._ssrc in ssrcs:
                    _safe(log, on_remb, bitrate)
        await original(packet)

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


def sender_ssrc(sender: RTCRtpSender) -> int:
    # aiortc private: RTCRtpSender._ssrc
    return int(sender._ssrc)


def _safe(log: Log | None, callback: Callable[..., None], *args: object) -> None:
    # A bug in our callback must not kill aiortc's RTCP handling for the peer.
    try:
        callback(*args)
    except Exception:
        (log or logger).exception("RTCP feedback callback failed")


# ------------------------------------------------------------------- packet-forwarding senders

NextFrame = Callable[[], Awaitable[tuple[RtpPayloads, int, int | None]]]
"""Waits for a leg's next frame: its RTP payloads, its timestamp on the leg's timeline and
the party's send time of it (abs-send-time, or None); raises ``MediaStreamError`` once the
leg is closed."""


@dataclass
class RtpLegCounters:
    frames: int = 0
    packets: int = 0
    octets: int = 0
    retransmitted: int = 0
    nacks_too_late: int = 0
    """Packets the downstream browser asked for that had already left the history."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def stream_layout(
    parameters: aiortc.rtcrtpparameters.RTCRtpSendParameters, ssrc: int, rtx_ssrc: int | None
) -> RtpStreamLayout:
    """The payload types, SSRCs and header extension IDs a sender's answer fixed."""
    codec = parameters.codecs[0]
    if codec.payloadType is None:
        raise ValueError(f"the answer gave {codec.mimeType} no payload type")
    rtx_payload_type = next(
        (
            c.payloadType
            for c in parameters.codecs
            if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == codec.payloadType
        ),
        None,
    )
    ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
    return RtpStreamLayout(
        payload_type=codec.payloadType,
        ssrc=ssrc,
        rtx_payload_type=rtx_payload_type,
        rtx_ssrc=rtx_ssrc if rtx_payload_type is not None else None,
        mid_id=ids.get(MID_URI) if parameters.muxId else None,
        mid=parameters.muxId,
        abs_send_time_id=ids.get(ABS_SEND_TIME_URI),
    )


class RtpLeg:
    """Sends a downstream leg's RTP packets itself, on its aiortc sender's DTLS transport.

    Each frame goes out as the RTP payloads the party's browser packetised (nothing is
    re-packetised) under the leg's SSRC and payload type, with contiguous sequence
    numbers and the frame's timestamp on the leg's continuous timeline, so the
    receiving browser sees one unbroken stream across the party's reconnects.
    aiortc's sender still answers for the stream: its RTCP loop sends Sender Reports
    from the counters this leg keeps up to date, SDES and BYE, and it reads receiver
    reports; its own RTP loop stays parked on a track that yields nothing. The
    downstream browser's NACKs are answered from the last ``HISTORY`` packets, over RTX
    when the answer negotiated it.
    """

    HISTORY = 1024
    """Packets kept for retransmission: ~4 s of 1.5 Mbit/s video, longer than any NACK
    worth answering (aiortc's own sender keeps 128)."""

    def __init__(
        self,
        sender: RTCRtpSender,
        frames: NextFrame,
        log: Log | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sender = sender
        self.layout: RtpStreamLayout | None = None
        self.counters = RtpLegCounters()
        self._frames = frames
        self._log = log or logger
        self._clock = clock
        # Random starting points as RFC 3550 asks; below 2^15 so SRTP's rollover
        # counter is not tested by the first packets (as aiortc does).
        self._sequence = random.randrange(0x8000)
        self._rtx_sequence = random.randrange(0x8000)
        self._timestamp_origin = random.getrandbits(32)
        # Each packet as sent (before SRTP), by sequence number modulo HISTORY. A dict of
        # bytes is one object the garbage collector never walks (CPython untracks a dict
        # that holds only ints and bytes); the list of tuples it replaced put 1024
        # references per leg into every full collection, a fifth of what one walked at 25
        # consults.
        self._history: dict[int, bytes] = {}
        # The party's abs-send-time clock minus the server's, as of the last frame that
        # carried one (24-bit wrap-around): see send_frame.
        self._send_time_shift = 0
        self._wire: DirectSend | None = None
        self._task: asyncio.Task[None] | None = None
        self._wrap_send()
        self._wrap_rtcp()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _wrap_send(self) -> None:
        # aiortc calls sender.send(parameters) once the DTLS transport is connected;
        # the answer's parameters fix the layout, and packets may flow from then on.
        original: Callable[[Any], Awaitable[None]] = self.sender.send

        async def send(parameters: Any) -> None:
            await original(parameters)
            if self.layout is None:
                self.layout = stream_layout(
                    parameters, sender_ssrc(self.sender), int(self.sender._rtx_ssrc)
                )
                self._wire = DirectSend(self.sender.transport, self._log)
                self._task = asyncio.create_task(self._run(), name=f"rtp-leg-{self.sender.kind}")

        self.sender.send = send  # type: ignore[method-assign]

    def _wrap_rtcp(self) -> None:
        # aiortc's sender answers NACKs from its own history, which stays empty here.
        inner: Callable[[Any], Awaitable[None]] = self.sender._handle_rtcp_packet

        async def handle_rtcp_packet(packet: Any) -> None:
            if (
                isinstance(packet, aiortc.rtp.RtcpRtpfbPacket)
                and packet.fmt == aiortc.rtp.RTCP_RTPFB_NACK
            ):
                self.retransmit(packet.lost)
                return
            await inner(packet)

        self.sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]

    async def _run(self) -> None:
        try:
            while True:
                payloads, pts, send_time = await self._frames()
                if payloads:
                    self.send_frame(payloads, pts, send_time)
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:
            self._log.exception("forwarding RTP toward the %s receiver failed", self.sender.kind)
        # As aiortc's own RTP loop does when it ends: stop the track, which closes the
        # leg, so frames stop queueing toward a transport that is gone.
        track = self.sender.track
        if track is not None:
            track.stop()

    def send_now(self, payloads: RtpPayloads, pts: int, send_time: int | None = None) -> bool:
        """Send a frame in this call; False if the leg has not started sending yet."""
        if self._wire is None or not self.running:
            return False
        self.send_frame(payloads, pts, send_time)
        return True

    def send_frame(self, payloads: RtpPayloads, pts: int, send_time: int | None = None) -> None:
        """Send one frame's packets, all of them in this call, under the party's
        ``send_time`` (its abs-send-time, see :class:`ForwardingVideoBuffer`).

        The downstream browser's bandwidth estimate compares abs-send-times with arrival
        times: under the party's own, it measures the whole path from the party's browser,
        so the REMB relayed to the party covers its uplink. A frame without one, and a
        retransmission, are stamped on the party's clock too (the server's clock shifted
        by the last frame's difference): one stream, one sending clock."""
        layout = self.layout
        wire = self._wire
        assert layout is not None and wire is not None, "the sender has not started"
        now = self._clock()
        own = abs_send_time(now)
        if send_time is None:
            send_time = (own + self._send_time_shift) & 0xFFFFFF
        else:
            self._send_time_shift = (send_time - own) & 0xFFFFFF
        extensions = layout.extensions(send_time)
        timestamp = (self._timestamp_origin + pts) & 0xFFFFFFFF
        send_rtp = wire.send_rtp
        history = self._history
        counters = self.counters
        sequence = self._sequence
        sent = octets = 0
        try:
            for payload, marker in payloads:
                packet = layout.media_packet(marker, sequence, timestamp, extensions, payload)
                history[sequence % self.HISTORY] = packet
                send_rtp(packet)
                sent += 1
                octets += len(payload)
                sequence = (sequence + 1) & 0xFFFF
        finally:
            # What went out before a failure stays counted and numbered.
            self._sequence = sequence
            counters.packets += sent
            counters.octets += octets
        counters.frames += 1
        # aiortc private: what RTCRtpSender._run_rtcp puts in its Sender Reports
        sender = self.sender
        sender._RTCRtpSender__ntp_timestamp = ntp_time(now)  # type: ignore[attr-defined]
        sender._RTCRtpSender__rtp_timestamp = timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count = counters.packets  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count = counters.octets  # type: ignore[attr-defined]

    def _sent(self, sequence: int) -> InboundRtp | None:
        """The packet sent under ``sequence``, read back, while the history still holds it."""
        data = self._history.get(sequence % self.HISTORY)
        if data is None:
            return None
        sent = parse_rtp(data)
        return sent if sent.sequence_number == sequence else None

    def retransmit(self, lost: list[int]) -> None:
        """Resend what the downstream browser reported lost (RTX if negotiated)."""
        layout = self.layout
        wire = self._wire
        if layout is None or wire is None:
            return
        extensions = layout.extensions(
            (abs_send_time(self._clock()) + self._send_time_shift) & 0xFFFFFF
        )
        for sequence in lost:
            sent = self._sent(sequence)
            if sent is None:
                self.counters.nacks_too_late += 1
                continue
            timestamp, marker, payload = sent.timestamp, bool(sent.marker), sent.payload
            if layout.rtx_payload_type is not None and layout.rtx_ssrc is not None:
                data = rtp_packet(
                    layout.rtx_payload_type,
                    marker,
                    self._rtx_sequence,
                    timestamp,
                    layout.rtx_ssrc,
                    extensions,
                    rtx_payload(sequence, payload),
                )
                self._rtx_sequence = (self._rtx_sequence + 1) & 0xFFFF
            else:
                data = layout.media_packet(marker, sequence, timestamp, extensions, payload)
            try:
                wire.send_rtp(data)
            except ConnectionError:
                return
            self.counters.retransmitted += 1


def forward_rtp(sender: RTCRtpSender, frames: NextFrame, log: Log | None = None) -> RtpLeg:
    """Make ``sender`` carry the RTP payloads ``frames`` yields instead of reading its track.

    Call right after ``addTransceiver``; the track handed to the transceiver must
    never yield (aiortc's RTP loop keeps reading it)."""
    verify_aiortc()
    return RtpLeg(sender, frames, log)
