"""A downstream leg's RTP, sent by the bridge itself: packets out in the call that forwarded
them, and the downstream browser's RTCP feedback seen on the way in.

* :class:`RtpLeg` (made by :func:`forward_rtp`) sends each forwarded frame as the RTP
  payloads it arrived in (:class:`~media.rtp.jitter_buffers.RtpJitterFrame` keeps them)
  under the leg's own header (:mod:`media.rtp.writer`), on the aiortc sender's DTLS
  transport. aiortc's sender keeps negotiating and running RTCP; its re-packetising RTP
  loop, which cost a third of a forwarded consult, stays parked. NACKs are answered over
  RTX from the leg's history, and the Sender Reports count what the leg sent. Each frame
  goes out under the abs-send-time the party's browser stamped on it, as Janus does, so the
  far browser's REMB measures the party's uplink too.
* :class:`DirectSend` protects each packet and writes it to the nominated pair's socket in
  one call, the steps of aiortc's four send coroutines.
* :func:`hook_sender` sees PLI and REMB arriving on a sender (aiortc maps PLI to an encoder
  flag and REMB to an encoder bitrate, both ignored for pre-encoded packets). FIR never
  reaches it: aiortc's ``RtpRouter.route_rtcp`` routes payload-specific feedback by
  ``media_ssrc``, which is 0 in a FIR (RFC 5104 puts the target SSRC in the FCI); browsers
  ask for VP8/H.264 keyframes with PLI. REMB only: aiortc negotiates no transport-cc, so
  browsers fall back to REMB.

The transcoding baseline still reads its track through aiortc's sender, which encodes and
packetises as usual.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import aioice.ice
import aiortc
import aiortc.rtcdtlstransport
import aiortc.rtp
from aiortc import MediaStreamError, RTCRtpSender

from media.aiortc_bridge.guard import Requirement, is_coroutine_function, uses, verify_aiortc
from media.aiortc_bridge.run_now import run_now
from media.aiortc_bridge.srtp import RtpProtection, ice_connection
from media.log import Log
from media.rtp.reader import InboundRtp, parse_rtp
from media.rtp.writer import (
    RtpPayloads,
    RtpStreamLayout,
    abs_send_time,
    ntp_time,
    rtp_packet,
    rtx_payload,
    stream_layout,
)

logger = logging.getLogger(__name__)


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


_DTLS_CONNECTED = aiortc.rtcdtlstransport.State.CONNECTED

DIRECT_SEND_REQUIRES = (
    Requirement(
        "RTCDtlsTransport._send_rtp(data) (coroutine): _state CONNECTED, "
        "_tx_srtp.protect, transport._send, counts __tx_bytes/__tx_packets",
        "DirectSend runs the same steps for RtpLeg's packets in one call (and falls back "
        "to _send_rtp itself on a relayed pair)",
        lambda: (
            is_coroutine_function(aiortc.rtcdtlstransport.RTCDtlsTransport, "_send_rtp")
            and uses(
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
            uses(aioice.ice.Connection.sendto, "_nominated", "protocol", "send_data", "remote_addr")
            and uses(aioice.ice.StunProtocol.send_data, "transport", "sendto")
        ),
    ),
)


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


HOOK_SENDER_REQUIRES = (
    Requirement(
        "RTCRtpSender._handle_rtcp_packet(packet) (coroutine) called by "
        "RTCDtlsTransport._handle_rtcp_data",
        "wrapped per sender to see PLI/FIR/REMB from the downstream browser",
        lambda: (
            is_coroutine_function(RTCRtpSender, "_handle_rtcp_packet")
            and uses(
                aiortc.rtcdtlstransport.RTCDtlsTransport._handle_rtcp_data, "_handle_rtcp_packet"
            )
        ),
    ),
    Requirement(
        "RTCRtpSender._ssrc",
        "a downstream REMB is only ours if it names this sender's SSRC",
        lambda: uses(RTCRtpSender.__init__, "_ssrc"),
    ),
    Requirement(
        "aiortc.rtp.RtcpPsfbPacket, RTCP_PSFB_PLI/FIR/APP, unpack_remb_fci",
        "reading the downstream browser's PLI, FIR and REMB",
        lambda: all(
            hasattr(aiortc.rtp, n)
            for n in (
                "RtcpPsfbPacket",
                "RTCP_PSFB_PLI",
                "RTCP_PSFB_FIR",
                "RTCP_PSFB_APP",
                "unpack_remb_fci",
            )
        ),
    ),
)


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
        ``send_time`` (its abs-send-time, see
        :class:`~media.rtp.jitter_buffers.ForwardingVideoBuffer`).

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


RTP_LEG_REQUIRES = (
    Requirement(
        "RTCRtpSender._run_rtcp reports _RTCRtpSender__ntp_timestamp / __rtp_timestamp / "
        "__packet_count / __octet_count",
        "RtpLeg keeps the Sender Reports of the stream it sends in step",
        lambda: uses(
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
        lambda: uses(RTCRtpSender.__init__, "_rtx_ssrc"),
    ),
    Requirement(
        "RTCRtpSender.send starts _run_rtp only (reads the track; never writes RTP otherwise)",
        "RtpLeg parks aiortc's RTP loop on a silent track and sends the packets itself",
        lambda: (
            uses(RTCRtpSender.send, "_run_rtp", "_run_rtcp")
            and uses(RTCRtpSender._run_rtp, "_next_encoded_frame")
        ),
    ),
    Requirement(
        "aiortc.rtp.RtcpRtpfbPacket, RTCP_RTPFB_NACK",
        "reading the downstream browser's NACKs",
        lambda: all(hasattr(aiortc.rtp, n) for n in ("RtcpRtpfbPacket", "RTCP_RTPFB_NACK")),
    ),
)


def forward_rtp(sender: RTCRtpSender, frames: NextFrame, log: Log | None = None) -> RtpLeg:
    """Make ``sender`` carry the RTP payloads ``frames`` yields instead of reading its track.

    Call right after ``addTransceiver``; the track handed to the transceiver must
    never yield (aiortc's RTP loop keeps reading it)."""
    verify_aiortc()
    return RtpLeg(sender, frames, log)


REQUIREMENTS = DIRECT_SEND_REQUIRES + HOOK_SENDER_REQUIRES + RTP_LEG_REQUIRES
