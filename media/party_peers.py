"""What a :class:`~media.consult_media.ConsultMedia` keeps per party: the party's inbound
streams, its current peer connection, and each m-line of that peer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpTransceiver

from media.aiortc_bridge.receive import ReceiverHooks
from media.aiortc_bridge.send import RtpLeg
from media.aiortc_bridge.srtp import DirectSrtp
from media.forwarding_strategies import Forwarder
from media.inbound import InboundStream

MediaKind = Literal["audio", "video"]
MEDIA_KINDS: tuple[MediaKind, ...] = ("audio", "video")


@dataclass
class MediaLine:
    """One m-line of a party's peer (one transceiver): what the party sends us, and the
    downstream leg that carries another party to it."""

    kind: MediaKind
    slot: int
    transceiver: RTCRtpTransceiver
    forwarder: Forwarder
    hooks: ReceiverHooks
    rtp: RtpLeg | None = None
    source_role: str | None = None
    attached_track: MediaStreamTrack | None = None

    @property
    def mid(self) -> str | None:
        return self.transceiver.mid


@dataclass
class Peer:
    """One peer connection of a party (a reload or an ICE restart makes a new one)."""

    pc: RTCPeerConnection
    generation: int
    identity: tuple[frozenset[str], frozenset[str]]
    remote_ufrags: frozenset[str]
    legs: list[MediaLine] = field(default_factory=list)
    # One per DTLS transport of the peer (one with BUNDLE), keyed by id(transport).
    direct_srtp: dict[int, DirectSrtp] = field(default_factory=dict)
    closing: bool = False
    # A renegotiation failed half-way: aiortc's state is unknown, the next offer gets a new peer.
    broken: bool = False

    def reusable(self) -> bool:
        return (
            not self.closing
            and not self.broken
            and self.pc.connectionState not in ("failed", "closed")
        )


@dataclass
class Party:
    """A party of the consult: its inbound streams outlive its peers."""

    role: str
    inbound: dict[str, InboundStream]
    peer: Peer | None = None
    generations: int = 0
    started_sources: dict[str, int] = field(default_factory=dict)
