"""A consult's media on this node: one peer connection per party, encoded frames forwarded.

Used by the signaling layer through :class:`ConsultMedia`; knows nothing of HTTP,
Socket.IO or the recorder.

Interface
---------
``ConsultMedia(consult_id, config, sink=None, on_event=None)``

* ``await answer(role, offer_sdp) -> str`` — answer a party's offer. A first offer,
  or an offer whose ICE ufrag/DTLS fingerprint changed (page reload, ICE restart),
  or an offer after the party's peer failed/closed/was dropped, gets a **new** peer
  connection (aiortc cannot restart ICE); any other offer renegotiates the existing
  peer. Raises :class:`~media.errors.InvalidOffer` or
  :class:`~media.errors.UnsupportedCodecs`; then a party's running session is left
  as it was and no other party is touched. Answers are serialised per consult (the
  first answered leg fixes the video codec); the answer SDP carries all server ICE
  candidates (aiortc gathers before answering, no server-side trickle).
* ``await add_ice_candidate(role, candidate)`` — a browser's trickled
  ``RTCIceCandidateInit`` dict (``candidate``, ``sdpMid``, ``sdpMLineIndex``, optional
  ``usernameFragment``); ``None`` or an empty candidate string = end of candidates.
  A candidate whose ``usernameFragment`` belongs to an older session is ignored; one
  that arrives while that party's ``answer()`` is running waits for it. Raises
  :class:`~media.errors.NoPeerYet` or :class:`~media.errors.InvalidCandidate`.
* ``await drop(role)`` — close the party's peer (no-op if it has none). The legs
  that carry this party's media to the others stay and idle until it returns.
* ``await request_keyframe(role)`` — PLI toward the party's browser (rate-limited to
  one per 500 ms, later requests coalesce). Raises :class:`~media.errors.NoPeerYet`.
* ``video_codec() -> str | None`` — ``"vp8"`` or ``"h264"`` (ffmpeg names, as the
  recorder's ``add_mux_stream`` wants them) once the first party fixed it.
* ``stats() -> dict`` — ``{"consult_id", "forwarding", "video_codec", "roles": {role:
  {...}}}``; per role: ``connection_state`` (``"none"`` without a peer),
  ``peer_generation``, ``received`` (frames from the party, per kind, over the whole
  consult), ``forwarded`` (frames sent to the party by its current peer, per kind),
  ``keyframe_requests`` (PLIs sent to the party), ``queue_depth`` (toward the party,
  per kind), and the detailed ``inbound``/``outbound`` counters.
* ``await close()`` — closes every peer; later calls raise ``ConsultClosed``.

Every error raised is a :class:`~media.errors.MediaError`; no aiortc exception
escapes. Constructing a ``ConsultMedia`` checks the aiortc hook
(:class:`~media.errors.ForwardingHookBroken`).

Roles are opaque strings. Each party's first audio and first video m-line carry its
media to this node (and to the sink); the ``i``-th audio (video) m-line of a party's
offer carries the ``i``-th *other* party, in the order parties first offered. In a
1:1 consult each browser's single sendrecv audio+video offer therefore receives the
other party. The server's outgoing tracks exist from the party's first offer on and
start carrying media when the other party's arrives: no renegotiation.

Sink contract: ``sink.on_frame(role, frame)`` runs on the event loop for every
encoded frame received from ``role`` (also before any other party is there), in
arrival order. The :class:`~media.encoded_frame.EncodedFrame` is immutable and shared
with the legs and the other sinks; a sink that needs an ``av.Packet`` to mux takes its
own with ``frame.to_packet()`` (PyAV rebases packets in place). ``pts`` is on the
party's continuous per-kind timeline (starts at 0, never goes backwards across
reconnects, a gap keeps its wall-clock length), ``time_base`` is 1/clock rate
(1/90000 video, 1/48000 Opus), ``keyframe`` is set. A sink must not block.

Events (``MediaEvent.kind``): ``peer_created``, ``connection_state``,
``track_started`` (first frame of a party's kind on a new peer), ``video_codec_fixed``,
``keyframe_requested`` (a PLI went to ``role``'s browser), ``queue_overflow`` (the
leg toward ``role`` dropped frames), ``peer_closed``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from media.aiortc_bridge.guard import verify_aiortc
from media.aiortc_bridge.receive import prepare_receiver
from media.aiortc_bridge.send import forward_rtp, hook_sender
from media.aiortc_bridge.srtp import DirectSrtp
from media.codec_policy import (
    VideoCodecChoice,
    audio_capabilities,
    check_audio,
    choose_video_codec,
)
from media.encoded_frame import EncodedFrame
from media.errors import (
    InvalidCandidate,
    InvalidOffer,
    MediaError,
    NoPeerYet,
    UnsupportedCodecs,
)
from media.forwarding_strategies import PassthroughForwarder, create_forwarder
from media.inbound import InboundStream
from media.log import ConsultLog, Log, consult_log
from media.party_peers import MEDIA_KINDS, MediaKind, MediaLine, Party, Peer
from media.session_description import (
    MediaSection,
    SessionSummary,
    parse_candidate,
    parse_offer,
)


def verify_media_runtime(log: Log | None = None) -> None:
    """Check once per process that the installed aiortc, aioice and pylibsrtp still have
    what encoded-frame forwarding relies on; raises ForwardingHookBroken if not. The server
    calls it at start-up, so that a broken install fails before the first consult."""
    verify_aiortc(log)


class ConsultClosed(MediaError):
    """The consult's media was closed; no more offers are taken."""


@dataclass(frozen=True)
class MediaConfig:
    """How this node carries media.

    ``ice_servers``: ``[{"urls": [...], "username": ..., "credential": ...}]`` from the
    server's configuration; always explicit, because aiortc's default STUN server is a
    public host. ``forwarding``: ``"passthrough"`` (default) or ``"transcoding"``
    (benchmark baseline). ``low_latency_audio``: release each Opus packet as it
    arrives instead of aiortc's 4-packet prefetch (see :mod:`media.rtp.jitter_buffers`).
    """

    ice_servers: list[dict[str, Any]]
    forwarding: Literal["passthrough", "transcoding"] = "passthrough"
    low_latency_audio: bool = True

    def __post_init__(self) -> None:
        if self.forwarding not in ("passthrough", "transcoding"):
            raise ValueError(f"unknown forwarding strategy {self.forwarding!r}")
        self.rtc_configuration()  # fail at start-up, not at the first offer

    def rtc_configuration(self) -> RTCConfiguration:
        servers = []
        for entry in self.ice_servers:
            if not isinstance(entry, dict) or "urls" not in entry:
                raise ValueError(f"an ICE server needs 'urls': {entry!r}")
            servers.append(
                RTCIceServer(
                    urls=entry["urls"],
                    username=entry.get("username"),
                    credential=entry.get("credential"),
                )
            )
        # One transport for all m-lines: browsers BUNDLE, and it halves ICE work.
        return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


@dataclass(frozen=True)
class MediaEvent:
    consult_id: str
    role: str
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


class FrameSink(Protocol):
    """Implemented by the server around the recorder (see the module docstring)."""

    def on_frame(self, role: str, frame: EncodedFrame) -> None: ...


class ConsultMedia:
    """The media of one consult on this node. See the module docstring for the contract."""

    def __init__(
        self,
        consult_id: str,
        config: MediaConfig,
        sink: FrameSink | None = None,
        on_event: Callable[[MediaEvent], None] | None = None,
    ) -> None:
        self.consult_id = consult_id
        self.config = config
        self._sink = sink
        self._on_event = on_event
        self.log: ConsultLog = consult_log(__name__, consult_id)
        verify_aiortc(self.log)  # raises ForwardingHookBroken before any browser is involved
        self._parties: dict[str, Party] = {}
        self._join_order: list[str] = []
        self._video_codec: VideoCodecChoice | None = None
        self._negotiation = asyncio.Lock()
        self._closed = False

    # -- public interface -----------------------------------------------------------

    async def answer(self, role: str, offer_sdp: str) -> str:
        self._check_open()
        summary = parse_offer(offer_sdp)
        async with self._negotiation:
            self._check_open()
            check_audio(summary.of_kind("audio"))
            choice = choose_video_codec(summary.of_kind("video"), self._video_codec)
            party = self._party(role)
            log = self.log.for_role(role)
            peer = party.peer
            fresh = (
                peer is None or not peer.reusable() or peer.identity != summary.transport_identity()
            )
            if fresh:
                if peer is not None:
                    log.info(
                        "new session from %s (reload, ICE restart or failed peer): replacing peer",
                        role,
                    )
                    await self._close_peer(party, reason="replaced")
                peer = self._create_peer(party, summary)
            assert peer is not None
            try:
                answer_sdp = await self._negotiate(party, peer, summary, offer_sdp, choice)
            except MediaError:
                if fresh:
                    await self._close_peer(party, reason="negotiation_failed")
                else:
                    peer.broken = True
                raise
            except Exception as exc:
                if fresh:
                    await self._close_peer(party, reason="negotiation_failed")
                else:
                    peer.broken = True
                log.warning("aiortc rejected the offer: %r", exc)
                raise InvalidOffer(
                    f"the offer could not be applied: {type(exc).__name__}: {exc}"
                ) from exc
            peer.remote_ufrags = summary.transport_identity()[0]
            if role not in self._join_order:
                # Slots are handed out in the order parties first got an answer.
                self._join_order.append(role)
            if choice is not None and self._video_codec is None:
                self._video_codec = choice
                log.info("consult video codec fixed to %s", choice.label())
                self._emit(role, "video_codec_fixed", codec=choice.name, label=choice.label())
            self._bind_legs()
            return answer_sdp

    async def add_ice_candidate(self, role: str, candidate: dict[str, Any] | None) -> None:
        self._check_open()
        parsed = parse_candidate(candidate)
        # A browser trickles right after its offer: wait for an answer() in progress,
        # or the candidate would reach transceivers that have no m-line yet.
        async with self._negotiation:
            party = self._parties.get(role)
            peer = party.peer if party else None
            if peer is None or peer.closing:
                raise NoPeerYet(
                    f"no peer connection for {role!r} yet: send the offer before ICE candidates"
                )
            ufrag = candidate.get("usernameFragment") if isinstance(candidate, dict) else None
            if ufrag and peer.remote_ufrags and ufrag not in peer.remote_ufrags:
                self.log.for_role(role).debug(
                    "ignoring candidate of an earlier ICE session (ufrag %s)", ufrag
                )
                return
            try:
                await peer.pc.addIceCandidate(parsed)
            except Exception as exc:
                raise InvalidCandidate(f"the ICE candidate could not be applied: {exc}") from exc

    async def drop(self, role: str) -> None:
        party = self._parties.get(role)
        if party is None or party.peer is None:
            return
        await self._close_peer(party, reason="dropped")

    async def request_keyframe(self, role: str) -> None:
        self._check_open()
        party = self._parties.get(role)
        if party is None or party.peer is None or not party.inbound["video"].attached:
            raise NoPeerYet(f"{role!r} is not sending video to this node")
        party.inbound["video"].request_keyframe("requested")

    def video_codec(self) -> str | None:
        return self._video_codec.name if self._video_codec else None

    def stats(self) -> dict[str, Any]:
        roles: dict[str, Any] = {}
        for role, party in self._parties.items():
            peer = party.peer
            outbound = []
            forwarded = {"audio": 0, "video": 0}
            queue_depth = {"audio": 0, "video": 0}
            for leg in peer.legs if peer else []:
                fs = leg.forwarder.stats()
                forwarded[leg.kind] += fs.forwarded
                queue_depth[leg.kind] += fs.queue_depth
                rtp = leg.rtp.counters.as_dict() if leg.rtp is not None else None
                outbound.append(
                    {
                        "mid": leg.mid,
                        "slot": leg.slot,
                        "from": leg.source_role,
                        **fs.as_dict(),
                        "rtp": rtp,
                    }
                )
            inbound = {k: s.stats().as_dict() for k, s in party.inbound.items()}
            roles[role] = {
                "connection_state": peer.pc.connectionState if peer else "none",
                "peer_generation": party.generations,
                "srtp_direct": {
                    "packets": sum(d.packets for d in peer.direct_srtp.values()) if peer else 0,
                    "dropped": sum(d.dropped for d in peer.direct_srtp.values()) if peer else 0,
                },
                "received": {k: s.stats().frames for k, s in party.inbound.items()},
                "forwarded": forwarded,
                "keyframe_requests": party.inbound["video"].stats().plis_sent,
                "queue_depth": queue_depth,
                "inbound": inbound,
                "outbound": outbound,
            }
        return {
            "consult_id": self.consult_id,
            "forwarding": self.config.forwarding,
            "video_codec": self.video_codec(),
            "roles": roles,
        }

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for party in self._parties.values():
            if party.peer is not None:
                await self._close_peer(party, reason="consult_closed")
            for stream in party.inbound.values():
                await stream.close()
        # What each party's link lost, for whoever looks into a poor call afterwards.
        received = {
            role: {
                kind: {
                    "frames": s.frames,
                    "late_packets": s.late_packets,
                    "holes_skipped": s.holes_skipped,
                }
                for kind, s in ((k, v.stats()) for k, v in party.inbound.items())
            }
            for role, party in self._parties.items()
        }
        self.log.info("consult media closed", extra={"received": received})

    # -- peers ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConsultClosed(f"consult {self.consult_id} media is closed")

    def _party(self, role: str) -> Party:
        party = self._parties.get(role)
        if party is None:
            if not isinstance(role, str) or not role:
                raise MediaError("a role must be a non-empty string")
            log = self.log.for_role(role)
            party = Party(
                role=role,
                inbound={
                    kind: InboundStream(
                        role,
                        kind,
                        log,
                        on_frame=self._on_frame_from(role),
                        on_keyframe_request=self._on_pli_to(role),
                    )
                    for kind in MEDIA_KINDS
                },
            )
            self._parties[role] = party
        return party

    def _create_peer(self, party: Party, summary: SessionSummary) -> Peer:
        pc = RTCPeerConnection(self.config.rtc_configuration())
        party.generations += 1
        peer = Peer(
            pc=pc,
            generation=party.generations,
            identity=summary.transport_identity(),
            remote_ufrags=frozenset(),
        )
        party.peer = peer
        role = party.role

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            self.log.for_role(role).info("peer %d connection %s", peer.generation, state)
            if state in ("failed", "closed") and party.peer is peer:
                # aiortc cannot recover either (no ICE restart): stop counting the
                # party as sending. The peer stays for stats until drop() or a new offer.
                for stream in party.inbound.values():
                    stream.detach()
            self._emit(role, "connection_state", state=state, generation=peer.generation)

        self.log.for_role(role).info("peer %d created", peer.generation)
        self._emit(role, "peer_created", generation=peer.generation)
        return peer

    async def _negotiate(
        self,
        party: Party,
        peer: Peer,
        summary: SessionSummary,
        offer_sdp: str,
        choice: VideoCodecChoice | None,
    ) -> str:
        pc = peer.pc
        known = {leg.mid for leg in peer.legs if leg.mid is not None}
        for section in summary.media:
            if section.kind not in MEDIA_KINDS:
                continue
            if section.mid in known:
                leg = next(x for x in peer.legs if x.mid == section.mid)
                leg.hooks.rtx_ssrcs = section.rtx_ssrcs
                self._set_codec_preferences(leg.transceiver, section, choice)
                continue
            peer.legs.append(self._add_leg(party, peer, section, choice))

        # aiortc picks the codecs while applying the remote offer, from the
        # transceivers' preferences set above.
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        local = pc.localDescription
        self._verify_answer(local.sdp, choice)
        video_codec = (self._video_codec or choice or VideoCodecChoice("vp8")).name
        for leg in peer.legs:
            self._attach_inbound(party, leg, video_codec)
        self._take_srtp_directly(party.role, peer)
        return str(local.sdp)

    def _take_srtp_directly(self, role: str, peer: Peer) -> None:
        """The peer's SRTP reaches aiortc's handlers without aioice's queue (DirectSrtp)."""
        for leg in peer.legs:
            dtls = leg.transceiver.receiver.transport
            if dtls is not None and id(dtls) not in peer.direct_srtp:
                peer.direct_srtp[id(dtls)] = DirectSrtp(dtls, self.log.for_role(role))

    def _add_leg(
        self, party: Party, peer: Peer, section: MediaSection, choice: VideoCodecChoice | None
    ) -> MediaLine:
        kind: MediaKind = "audio" if section.kind == "audio" else "video"
        role = party.role
        slot = sum(1 for leg in peer.legs if leg.kind == kind)
        log = self.log.for_role(role)

        def on_overflow(dropped: int) -> None:
            self._emit(role, "queue_overflow", media=kind, dropped=dropped)

        forwarder = create_forwarder(self.config.forwarding, kind, log, on_overflow)
        # Transceivers are created in offer order before setRemoteDescription, so
        # aiortc pairs the n-th m-line of a kind with the n-th transceiver of it.
        transceiver = peer.pc.addTransceiver(forwarder.track, direction="sendrecv")
        self._set_codec_preferences(transceiver, section, choice)
        hooks = prepare_receiver(
            transceiver.receiver, kind, low_latency_audio=self.config.low_latency_audio
        )
        hooks.rtx_ssrcs = section.rtx_ssrcs
        hook_sender(
            transceiver.sender,
            on_keyframe_request=forwarder.downstream_keyframe_request,
            on_remb=forwarder.downstream_remb,
            log=log,
        )
        rtp = None
        if isinstance(forwarder, PassthroughForwarder):
            # The browser's RTP payloads go out as they came, under our header.
            rtp = forward_rtp(transceiver.sender, forwarder.send_rtp(), log)
            forwarder.send_in_call(rtp.send_now)
        return MediaLine(
            kind=kind, slot=slot, transceiver=transceiver, forwarder=forwarder, hooks=hooks, rtp=rtp
        )

    def _set_codec_preferences(
        self, transceiver: RTCRtpTransceiver, section: MediaSection, choice: VideoCodecChoice | None
    ) -> None:
        if section.kind == "audio":
            transceiver.setCodecPreferences(audio_capabilities())
        elif choice is not None:
            transceiver.setCodecPreferences(choice.capabilities())

    def _verify_answer(self, answer_sdp: str, choice: VideoCodecChoice | None) -> None:
        """aiortc answered with the codec we asked for (else the legs would not match)."""
        answer = parse_offer(answer_sdp)
        for section in answer.media:
            if section.port == 0 or not section.codecs:
                continue
            first = section.codecs[0]
            if section.kind == "audio" and first.mime_subtype != "OPUS":
                raise UnsupportedCodecs(f"aiortc answered audio with {first.name}, not Opus")
            if section.kind == "video" and choice is not None and not choice.matches(first):
                raise UnsupportedCodecs(
                    f"aiortc answered video with {first.name}, not {choice.label()}"
                )

    def _attach_inbound(self, party: Party, leg: MediaLine, video_codec: str) -> None:
        track = leg.transceiver.receiver.track
        if track is None or track is leg.attached_track:
            return
        leg.attached_track = track
        first_of_kind = (
            next(x for x in party.peer.legs if x.kind == leg.kind) if party.peer else None
        )
        # Only the first m-line of a kind is forwarded; a receiver with no listener
        # counts its frames and drops them.
        if leg is first_of_kind:
            codec = "opus" if leg.kind == "audio" else video_codec
            party.inbound[leg.kind].attach(leg.hooks, codec)

    def _bind_legs(self) -> None:
        for party in self._parties.values():
            if party.peer is None:
                continue
            others = [r for r in self._join_order if r != party.role]
            for leg in party.peer.legs:
                if leg.forwarder.bound or leg.forwarder.closed or leg.slot >= len(others):
                    continue
                leg.source_role = others[leg.slot]
                self._parties[leg.source_role].inbound[leg.kind].subscribe(leg.forwarder)

    async def _close_peer(self, party: Party, reason: str) -> None:
        peer = party.peer
        if peer is None:
            return
        party.peer = None
        peer.closing = True
        for leg in peer.legs:
            leg.forwarder.close()
        for stream in party.inbound.values():
            stream.detach()
        try:
            await peer.pc.close()
        except Exception as exc:  # closing must not fail the caller's drop/close
            self.log.for_role(party.role).warning(
                "closing peer %d failed: %r", peer.generation, exc
            )
        self.log.for_role(party.role).info("peer %d closed (%s)", peer.generation, reason)
        self._emit(party.role, "peer_closed", generation=peer.generation, reason=reason)

    # -- callbacks ----------------------------------------------------------------------

    def _on_frame_from(self, role: str) -> Callable[[EncodedFrame], None]:
        def on_frame(frame: EncodedFrame) -> None:
            party = self._parties[role]
            if party.started_sources.get(frame.kind) != frame.source:
                party.started_sources[frame.kind] = frame.source
                self._emit(
                    role, "track_started", media=frame.kind, codec=frame.codec, source=frame.source
                )
            if self._sink is not None:
                self._sink.on_frame(role, frame)

        return on_frame

    def _on_pli_to(self, role: str) -> Callable[[str, bool], None]:
        def on_pli(reason: str, coalesced: bool) -> None:
            self._emit(
                role, "keyframe_requested", media="video", reason=reason, coalesced=coalesced
            )

        return on_pli

    def _emit(self, role: str, kind: str, **detail: Any) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(MediaEvent(self.consult_id, role, kind, detail))
        except Exception:
            self.log.exception("media event handler failed on %s", kind)
