"""Reading received RTP packets for the forwarding receive lane: pure functions, no aiortc.

The counterpart of :mod:`media.rtp.writer`. aiortc's ``RtpPacket.parse`` decodes every
header extension into a ``HeaderExtensions`` dataclass and builds two of them per packet;
its VP8 depayloader builds a descriptor object. A forwarding server reads one extension
(abs-send-time, for the bandwidth estimate) and only needs to know where a VP8 payload
descriptor ends, so this reads the fixed header and keeps the extension block as bytes,
to be looked into only for the extension asked for. The same packets are refused as
aiortc refuses (bad version, truncated CSRC or extension block, bad padding); what is
not read is not validated, so a malformed element inside the extension block is not an
error here (the forwarded packets carry the server's own extensions, never these).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE = 0x1000

_FIXED_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")
_VERSION_MASK = 0xC0
_VERSION_2 = 0x80


@dataclass(slots=True)
class InboundRtp:
    """One received RTP packet: its fixed header, its payload, and its extension block
    unread. ``data`` holds the depayloaded bytes once the lane has depayloaded it."""

    payload_type: int
    marker: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes
    padding_size: int = 0
    extension_profile: int = 0
    extension_value: bytes = b""
    data: bytes = b""


def parse_rtp(data: bytes) -> InboundRtp:
    """The packet in ``data`` (after SRTP); ``ValueError`` for what aiortc would refuse."""
    if len(data) < 12:
        raise ValueError("RTP packet length is less than 12 bytes")
    first, second, sequence_number, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
    if first & _VERSION_MASK != _VERSION_2:
        raise ValueError("RTP packet has invalid version")
    pos = 12 + 4 * (first & 0x0F)  # the CSRCs are skipped: nothing downstream reads them
    if len(data) < pos:
        raise ValueError("RTP packet has truncated CSRC")
    profile = 0
    extension = b""
    if first & 0x10:
        if len(data) < pos + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        profile, words = _EXTENSION_HEADER.unpack_from(data, pos)
        pos += 4
        end = pos + 4 * words
        if len(data) < end:
            raise ValueError("RTP packet has truncated extension value")
        extension = data[pos:end]
        pos = end
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if not padding or padding > len(data) - pos:
            raise ValueError("RTP packet padding length is invalid")
    # Positional: a dataclass __init__ called with nine keywords costs twice as much, and
    # this runs for every packet the server receives.
    return InboundRtp(
        second & 0x7F,  # payload_type
        second >> 7,  # marker
        sequence_number,
        timestamp,
        ssrc,
        data[pos : len(data) - padding],  # payload
        padding,  # padding_size
        profile,  # extension_profile
        extension,  # extension_value
    )


def header_extension(packet: InboundRtp, extension_id: int) -> bytes | None:
    """The value of the header extension ``extension_id`` (RFC 8285, one-byte or two-byte
    form), or None if the packet does not carry it or its block ends before it does."""
    value = packet.extension_value
    end = len(value)
    pos = 0
    if packet.extension_profile == ONE_BYTE_PROFILE:
        while pos < end:
            element = value[pos]
            if element == 0:  # padding
                pos += 1
                continue
            length = (element & 0x0F) + 1
            pos += 1
            if element >> 4 == extension_id:
                return value[pos : pos + length] if pos + length <= end else None
            pos += length
    elif packet.extension_profile == TWO_BYTE_PROFILE:
        while pos < end:
            if value[pos] == 0:  # padding
                pos += 1
                continue
            if pos + 2 > end:
                return None
            element_id, length = value[pos], value[pos + 1]
            pos += 2
            if element_id == extension_id:
                return value[pos : pos + length] if pos + length <= end else None
            pos += length
    return None


def abs_send_time_of(packet: InboundRtp, extension_id: int) -> int | None:
    """The packet's 24-bit abs-send-time, if it carries one of the right size."""
    value = header_extension(packet, extension_id)
    return int.from_bytes(value, "big") if value is not None and len(value) == 3 else None


def vp8_payload(payload: bytes) -> bytes:
    """The VP8 bitstream of an RTP payload: ``payload`` without its payload descriptor
    (RFC 7741 §4.2); ``ValueError`` if the descriptor is truncated, as in aiortc."""
    if not payload:
        raise ValueError("VPX descriptor is too short")
    pos = 1
    if payload[0] & 0x80:  # X: extended control bits follow
        if len(payload) < 2:
            raise ValueError("VPX descriptor has truncated extended bits")
        bits = payload[1]
        pos = 2
        if bits & 0x80:  # I: picture ID, 7 or 15 bits
            if len(payload) < pos + 1:
                raise ValueError("VPX descriptor has truncated PictureID")
            if payload[pos] & 0x80:
                if len(payload) < pos + 2:
                    raise ValueError("VPX descriptor has truncated long PictureID")
                pos += 2
            else:
                pos += 1
        if bits & 0x40:  # L: TL0PICIDX
            if len(payload) < pos + 1:
                raise ValueError("VPX descriptor has truncated TL0PICIDX")
            pos += 1
        if bits & 0x30:  # T or K: TID/Y/KEYIDX
            if len(payload) < pos + 1:
                raise ValueError("VPX descriptor has truncated T/K")
            pos += 1
    return payload[pos:]


def unwrap_rtx(packet: InboundRtp, payload_type: int, ssrc: int) -> InboundRtp:
    """The original packet a retransmission (RFC 4588) carries: its sequence number is the
    payload's first two bytes. The caller checks the payload has them."""
    return InboundRtp(
        payload_type=payload_type,
        marker=packet.marker,
        sequence_number=int.from_bytes(packet.payload[:2], "big"),
        timestamp=packet.timestamp,
        ssrc=ssrc,
        payload=packet.payload[2:],
        extension_profile=packet.extension_profile,
        extension_value=packet.extension_value,
    )
