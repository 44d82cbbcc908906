"""RTP packets for a downstream leg, written from forwarded payloads (RFC 3550, RFC 8285).

A forwarded packet keeps its payload byte for byte (the VP8 payload descriptor, the
H.264 NAL unit or fragment, the Opus frame) and gets a new header: the leg's SSRC,
payload type, sequence number and timestamp, and the header extensions the
downstream answer negotiated (MID, and abs-send-time, which the receiving browser's
bandwidth estimator reads). The counterpart of :mod:`media.rtp.reader`. Nothing here
touches aiortc's objects (its parameter types are read for :func:`stream_layout` only);
:mod:`media.aiortc_bridge.send` sends the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiortc.rtcrtpparameters import RTCRtpSendParameters

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

RtpPayloads = tuple[tuple[bytes, bool], ...]
"""A frame's RTP payloads as received, with their marker bits (padding-only packets left out)."""

_FIXED_HEADER = struct.Struct("!BBHII")
_SEQUENCE = struct.Struct("!H")
_VERSION_2 = 0x80
_EXTENSION_BIT = 0x10
_ONE_BYTE_PROFILE = b"\xbe\xde"


def abs_send_time(unix_time: float) -> int:
    """The 24-bit abs-send-time of a wall-clock instant: NTP seconds in 6.18 fixed point.

    The NTP era starts 2 208 988 800 s before the Unix epoch, a multiple of 64 s, so
    the low 6 bits of the NTP seconds equal those of the Unix seconds.
    """
    return int(unix_time * (1 << 18)) & 0xFFFFFF


NTP_ERA_OFFSET_S = 2_208_988_800
"""Seconds from the NTP era (1900-01-01) to the Unix epoch."""


def ntp_time(unix_time: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point) of a wall-clock instant, for Sender Reports."""
    return int((unix_time + NTP_ERA_OFFSET_S) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_ms(unix_time: float) -> int:
    """Milliseconds since the NTP era: aiortc's packet arrival clock (``clock.current_ms``),
    without the two ``datetime`` objects it builds per packet."""
    return int((unix_time + NTP_ERA_OFFSET_S) * 1000)


@dataclass(frozen=True, slots=True)
class RtpStreamLayout:
    """What one downstream sender's answer fixed: who it is and which extensions it carries."""

    payload_type: int
    ssrc: int
    rtx_payload_type: int | None = None
    rtx_ssrc: int | None = None
    mid_id: int | None = None
    mid: str = ""
    abs_send_time_id: int | None = None
    _mid_element: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("mid_id", "abs_send_time_id"):
            ext_id = getattr(self, name)
            if ext_id is not None and not 1 <= ext_id <= 14:
                raise ValueError(f"{name} {ext_id} does not fit a one-byte header extension")
        if self.mid_id is not None and not 1 <= len(self.mid.encode()) <= 16:
            raise ValueError(f"mid {self.mid!r} does not fit a one-byte header extension")
        mid = self.mid.encode()
        # The MID element is the same in every packet of the stream: built once, here.
        element = bytes(((self.mid_id << 4) | (len(mid) - 1),)) + mid if self.mid_id else b""
        object.__setattr__(self, "_mid_element", element)

    def extensions(self, send_time: int) -> bytes:
        """The header extension block (with its profile and length words), or b"" if none."""
        elements = self._mid_element
        if self.abs_send_time_id is not None:
            elements += bytes(((self.abs_send_time_id << 4) | 2,)) + send_time.to_bytes(3, "big")
        if not elements:
            return b""
        elements += b"\x00" * (-len(elements) % 4)
        return _ONE_BYTE_PROFILE + _SEQUENCE.pack(len(elements) // 4) + elements

    def media_packet(
        self, marker: bool, sequence_number: int, timestamp: int, extensions: bytes, payload: bytes
    ) -> bytes:
        """A packet of the stream itself (``extensions`` from :meth:`extensions`)."""
        return rtp_packet(
            self.payload_type, marker, sequence_number, timestamp, self.ssrc, extensions, payload
        )


def rtp_packet(
    payload_type: int,
    marker: bool,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    extensions: bytes,
    payload: bytes,
) -> bytes:
    """One RTP packet: fixed header, ``extensions`` (from :meth:`RtpStreamLayout.extensions`),
    payload."""
    first = _VERSION_2 | (_EXTENSION_BIT if extensions else 0)
    second = (0x80 if marker else 0) | payload_type
    header = _FIXED_HEADER.pack(first, second, sequence_number, timestamp, ssrc)
    return header + extensions + payload


def rtx_payload(original_sequence_number: int, payload: bytes) -> bytes:
    """An RTX payload (RFC 4588): the original sequence number, then the original payload."""
    return _SEQUENCE.pack(original_sequence_number) + payload


def stream_layout(
    parameters: RTCRtpSendParameters, ssrc: int, rtx_ssrc: int | None
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
