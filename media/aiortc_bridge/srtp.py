"""SRTP in the call that received it: libsrtp on a session's own context, and SRTP/SRTCP
datagrams from aioice's socket to the DTLS transport's handlers without a queue.

* :class:`RtpProtection` calls libsrtp's protect/unprotect on a pylibsrtp ``Session``'s own
  context and buffer, without the wrapper's per-call work (the same results and errors).
* :class:`DirectSrtp` takes each SRTP/SRTCP datagram where aioice hands it over and runs the
  DTLS transport's own unprotect and handlers on it at once, instead of aioice's
  ``asyncio.Queue`` and a wake-up of the transport's receive task per packet; a prepared
  receiver's RTP then goes on to its :class:`~media.aiortc_bridge.receive_lane.RtpInput`.
* :func:`ice_connection` finds the aioice connection under a DTLS transport (what
  :class:`DirectSrtp` and :class:`~media.aiortc_bridge.send.DirectSend` reach).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import aiortc
import aiortc.rtcdtlstransport
import aiortc.rtcicetransport
import aiortc.rtp
import pylibsrtp
import pylibsrtp._binding

from media.aiortc_bridge.guard import Requirement, is_coroutine_function, uses
from media.aiortc_bridge.receive_lane import RtpInput
from media.aiortc_bridge.run_now import run_now
from media.log import Log
from media.rtp.writer import ntp_ms

logger = logging.getLogger(__name__)


def ice_connection(dtls: aiortc.RTCDtlsTransport) -> aioice.ice.Connection:
    """The aioice connection under a DTLS transport (what DirectSrtp and DirectSend reach)."""
    # aiortc private: RTCIceTransport._connection
    connection: aioice.ice.Connection = dtls.transport._connection
    return connection


ICE_CONNECTION_REQUIRES = (
    Requirement(
        "RTCIceTransport._connection (the aioice Connection; also the gatherer's)",
        "DirectSrtp and DirectSend find the ICE connection of a DTLS transport (ice_connection)",
        lambda: (
            uses(aiortc.rtcicetransport.RTCIceGatherer.__init__, "_connection")
            and uses(aiortc.rtcicetransport.RTCIceTransport.__init__, "_connection")
        ),
    ),
)


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

RTP_PROTECTION_REQUIRES = (
    Requirement(
        "pylibsrtp: Session._srtp (srtp_t *, freed with the Session), _cdata (char[]) and "
        "_buffer, which protect/unprotect fill and read around lib.srtp_protect / "
        "srtp_unprotect; ERRORS; SRTP_MAX_TRAILER_LEN",
        "RtpProtection calls libsrtp on a Session's own context and buffer",
        lambda: (
            uses(pylibsrtp.Session.__init__, "_srtp", "_cdata", "_buffer", "srtp_create")
            and uses(pylibsrtp.Session._Session__process, "_srtp", "_cdata", "_buffer")  # type: ignore[attr-defined]
            and uses(pylibsrtp.Session.protect, "srtp_protect", "SRTP_MAX_TRAILER_LEN")
            and uses(pylibsrtp.Session.unprotect, "srtp_unprotect")
            and hasattr(pylibsrtp, "ERRORS")
            and hasattr(pylibsrtp._binding.lib, "srtp_err_status_ok")
        ),
    ),
)


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

DIRECT_SRTP_REQUIRES = (
    Requirement(
        "aioice: StunProtocol.datagram_received hands what is not STUN to "
        "receiver.data_received(data, local_candidate.component); Connection.data_received "
        "queues it for recv(); Connection._protocols lists the connection's StunProtocols",
        "DirectSrtp takes SRTP datagrams at Connection.data_received instead of the queue, "
        "and straight from each StunProtocol without the STUN parse",
        lambda: (
            uses(
                aioice.ice.StunProtocol.datagram_received,
                "parse_message",
                "data_received",
                "local_candidate",
                "component",
            )
            and uses(aioice.ice.Connection.data_received, "_queue", "put_nowait")
            and uses(aioice.ice.Connection.__init__, "_protocols")
        ),
    ),
    Requirement(
        "RTCDtlsTransport._recv_next: a datagram whose first byte is 128-191 is SRTP/SRTCP "
        "once _rx_srtp is set; unprotect → _handle_rtp_data(data, arrival_time_ms) or "
        "unprotect_rtcp → _handle_rtcp_data(data); counts __rx_bytes/__rx_packets; _state",
        "DirectSrtp runs the same steps for a datagram in the call that received it",
        lambda: (
            uses(
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
            and is_coroutine_function(aiortc.rtcdtlstransport.RTCDtlsTransport, "_handle_rtp_data")
            and is_coroutine_function(aiortc.rtcdtlstransport.RTCDtlsTransport, "_handle_rtcp_data")
            and uses(aiortc.rtcdtlstransport.RTCDtlsTransport._send_rtp, "_state", "CONNECTED")
            and inspect.signature(
                aiortc.rtcdtlstransport.RTCDtlsTransport._handle_rtp_data
            ).parameters.keys()
            >= {"data", "arrival_time_ms"}
        ),
    ),
)

REQUIREMENTS = ICE_CONNECTION_REQUIRES + RTP_PROTECTION_REQUIRES + DIRECT_SRTP_REQUIRES
