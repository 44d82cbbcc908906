"""An encoded audio/video frame as it moves through this node: bytes plus timing."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av

from media.rtp.writer import RtpPayloads


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded frame received from a party, immutable so every consumer can share it.

    ``pts`` is on the inbound stream's continuous timeline (it starts at 0 and never
    goes backwards, even when the party reconnects); ``source`` counts the party's
    peer connections, so a consumer can tell a reconnect from a late packet. ``rtp``
    holds the RTP payloads the frame arrived in, for legs that forward packets, and
    ``send_time`` the abs-send-time (24-bit, 6.18 fixed-point seconds) the party's
    browser stamped on the packet that completed the frame, if it stamped one: legs
    forward the frame under it (media.aiortc_bridge.send.RtpLeg).
    """

    kind: str
    codec: str
    data: bytes
    pts: int
    time_base: Fraction
    keyframe: bool
    source: int
    arrival: float
    rtp: RtpPayloads = ()
    send_time: int | None = None

    def rtp_payloads(self) -> RtpPayloads:
        """The payloads to forward; an Opus frame is its own payload (RFC 7587), so an
        audio frame that came without them is forwarded whole."""
        if self.rtp or self.kind != "audio" or not self.data:
            return self.rtp
        return ((self.data, False),)

    def to_packet(self, pts: int | None = None) -> av.Packet:
        """A fresh ``av.Packet`` the caller owns (muxers rebase packets in place)."""
        packet = av.Packet(self.data)
        packet.pts = self.pts if pts is None else pts
        packet.dts = packet.pts
        packet.time_base = self.time_base
        packet.is_keyframe = self.keyframe
        return packet
