"""The `/consult` Socket.IO namespace: the live consult as docs/protocol.md describes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import socketio

from server.clinical.chat import ChatLog
from server.clinical.consult_lifecycle import ConsultState
from server.clinical.consults import ConsultService
from server.clinical.live_notifier import ConsultSnapshot, PhysicianChange
from server.clinical.outcome import EndConsult, automatic_abort
from server.clinical.physician_standing import PhysicianStanding, PhysicianWithdrawn
from server.clinical.reconnect_deadlines import ReconnectDeadline, resumed_deadlines
from server.clinical.young_child_prescribing import AccompanyingPhysicianIn
from server.cluster.node_cluster import Cluster, ClusterUnavailable
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.config import Settings
from server.kernel.errors import Forbidden, ShouzhenError
from server.kernel.metrics import Metrics
from server.kernel.refusal_ledger import Refusal, RefusalLedger
from server.kernel.tokens import Role, read_join_token
from server.photos.capture import (
    CaptureDiscarded,
    CaptureRequest,
    PhotoService,
    site_selection,
)
from server.photos.still_tap import StillTap
from signaling import payloads
from signaling.acks import Ack, EventRefused, acknowledged, ok, parse
from signaling.live_consult import LiveConsult, LiveConsults, SocketState
from signaling.media_port import MediaFactory
from signaling.quality_audit import QualityTrail

NAMESPACE = "/consult"
log = logging.getLogger("shouzhen.signaling")


@dataclass
class SignalingContext:
    settings: Settings
    clock: Clock
    consults: ConsultService
    chat: ChatLog
    media_factory: MediaFactory
    photos: PhotoService
    still_taps: dict[str, StillTap]
    close_consult: Callable[[str], Coroutine[Any, Any, None]]  # finish recordings, seal
    metrics: Metrics | None = None
    cluster: Cluster | None = None  # set when several nodes share Redis
    # The app's refusal ledger (server.app.live plugs it in): refusals counted per window.
    refusals: RefusalLedger | None = None
    # Whether a physician may still act: asked before every event of a physician's socket.
    standing: PhysicianStanding | None = None


class ConsultNamespace(socketio.AsyncNamespace):
    def __init__(self, context: SignalingContext) -> None:
        super().__init__(NAMESPACE)
        self.ctx = context
        self.live = LiveConsults()
        self.sockets: dict[str, SocketState] = {}
        self._background: set[asyncio.Task[None]] = set()
        # (consult, role) -> who and their quality changes not yet in the audit log.
        self._quality_trails: dict[tuple[str, str], tuple[Actor, QualityTrail]] = {}

    # -- connection ---------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        consult_id: str | None = None
        actor: Actor | None = None
        try:
            if not isinstance(token, str) or not token:
                raise EventRefused("unauthenticated", "connect with auth: {token: <join token>}")
            claims = read_join_token(self.ctx.settings.secret_key, token, now=self.ctx.clock.now())
            consult_id = claims.consult_id
            actor = Actor(claims.role.value, claims.subject)
            await self.ctx.consults.check_participant(claims)
            await self._check_placement(claims.consult_id)
        except (EventRefused, ShouzhenError) as error:
            if isinstance(error, WrongNode):
                raise socketio.exceptions.ConnectionRefusedError(error.message, {
                    "code": error.code, "message": error.message, "url": error.url}) from None
            code = error.code
            message = error.message if isinstance(error, EventRefused) else error.detail
            remote = _remote(environ)
            # Every refused connect is audited, with or without a readable token.
            await self._refused(Refusal.of(
                "access.refused", actor or Actor("anonymous", remote), target="socket connect",
                reason=code, source=remote, consult_id=consult_id,
                details={"channel": "socket", "code": code, "reason": message[:300],
                         "remote": remote}))
            # (message, data): the browser's connect_error carries err.data = {code, message}.
            raise socketio.exceptions.ConnectionRefusedError(
                message, {"code": code, "message": message}) from None
        self.sockets[sid] = SocketState(claims.consult_id, claims.role.value, claims.subject)
        live = self.live.get(claims.consult_id)
        await self.enter_room(sid, live.room)
        async with live.lock:
            previous = live.participants[claims.role.value].sid
            live.participants[claims.role.value].sid = sid
        if previous is not None and previous != sid:
            # The newer connection wins: a phone that changed networks is the same person.
            old = self.sockets.get(previous)
            if old is not None:
                old.left = True
            await self.emit("replaced", {}, to=previous)
            await self.disconnect(previous)
        self._count_participants()

    async def _check_placement(self, consult_id: str) -> None:
        """In a cluster, the consult lives on one node: elsewhere, send the browser there."""
        if self.ctx.cluster is None:
            return
        try:
            placement = await self.ctx.cluster.place(consult_id)
        except ClusterUnavailable as error:
            raise EventRefused("cluster_unavailable", f"{error}; try again shortly") from None
        if not placement.here:
            raise WrongNode(placement.node.url)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        state = self.sockets.pop(sid, None)
        self._count_participants()
        if state is None:
            return
        live = self.live.find(state.consult_id)
        if live is None or live.ended:
            return
        participant = live.participants[state.role]
        if participant.sid != sid:
            return  # replaced by a newer socket of the same role
        participant.sid = None
        if state.left or participant.status in ("absent", "left"):
            return
        participant.status = "reconnecting"
        await self._presence(live, state.role)
        await self._write_pending_quality(state.consult_id, state.role)
        await self._audit(state, "participant.disconnected", {"reason": str(reason)})
        # In the database first, so that a crash during the grace period does not forget it.
        deadline_at = self.ctx.clock.now() + self._grace()
        await self.ctx.consults.reconnect_deadlines.start(state.consult_id, state.role,
                                                          deadline_at)
        participant.grace = asyncio.create_task(self._grace_period(live, state, deadline_at))

    def _grace(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.reconnect_grace_seconds)

    async def _grace_period(self, live: LiveConsult, state: SocketState,
                            deadline_at: datetime) -> None:
        await asyncio.sleep(max(0.0, (deadline_at - self.ctx.clock.now()).total_seconds()))
        participant = live.participants[state.role]
        if participant.sid is not None or live.ended:
            return
        participant.status = "interrupted"
        participant.grace = None
        await self.ctx.consults.reconnect_deadlines.clear(state.consult_id, state.role)
        await self._presence(live, state.role)
        await self._audit(state, "participant.interrupted", {
            "grace_seconds": self.ctx.settings.reconnect_grace_seconds})
        if live.media is not None:
            with contextlib.suppress(Exception):
                await live.media.drop(state.role)
        await self._end_abandoned(live, state.role)

    async def _end_abandoned(self, live: LiveConsult, role: str) -> None:
        """A call nobody can continue is never left open: once the grace period is over
        it ends as aborted with a reschedule request and an alert event."""
        consult = await self.ctx.consults.snapshot(live.consult_id)
        if consult.state is not ConsultState.IN_CALL:
            return
        reason = "guardian_left" if role == Role.GUARDIAN else "physician_connection_lost"
        # Ending tells this namespace (consult_ended) through the consult service.
        with contextlib.suppress(ShouzhenError):  # ended meanwhile by someone else
            await self.ctx.consults.end(
                Actor.system("signaling"), live.consult_id, automatic_abort(
                    reason, f"the {role} did not come back within "
                    f"{self.ctx.settings.reconnect_grace_seconds} s"))

    async def resume_reconnect_deadlines(self) -> int:
        """After a restart or a failover, the grace periods this node now owns: every consult in
        call whose participants this node does not know is waited for as if they had just
        dropped (a deadline already in the database is kept; a past one fires at once), so a
        consult nobody returns to ends as aborted exactly as without the crash. In a cluster
        only the node that owns the consult acts. Returns how many timers it started."""
        deadlines = self.ctx.consults.reconnect_deadlines
        started = 0
        for call in await deadlines.open_calls():
            if not await self._owned_here(call.consult_id):
                continue
            live = self.live.get(call.consult_id)
            for deadline in resumed_deadlines(call, self.ctx.clock.now(), self._grace()):
                participant = live.participants[deadline.role]
                # Only participants this node has never seen: the others have their own timer,
                # are connected, or left on purpose.
                if participant.status != "absent" or participant.sid is not None \
                        or participant.grace is not None or live.ended:
                    continue
                if deadline.role not in call.deadlines:
                    await deadlines.start(call.consult_id, deadline.role, deadline.deadline_at)
                participant.status = "reconnecting"
                participant.grace = asyncio.create_task(
                    self._grace_period(live, _resumed_socket(deadline), deadline.deadline_at))
                started += 1
        return started

    async def _owned_here(self, consult_id: str) -> bool:
        if self.ctx.cluster is None:
            return True
        try:
            return (await self.ctx.cluster.place(consult_id)).here
        except ClusterUnavailable:
            return False  # the next sweep asks again

    # -- the consult --------------------------------------------------------------------

    @acknowledged("join")
    async def on_join(self, sid: str, data: Any) -> Ack:
        state = self._state(sid)
        parse(payloads.Empty, data)
        live = self.live.get(state.consult_id)
        actor = _actor(state)
        participant = live.participants[state.role]
        returning = participant.status in ("reconnecting", "interrupted", "left", "in_call")
        if state.role == Role.GUARDIAN:
            consult = await self.ctx.consults.guardian_arrives(actor, state.consult_id)
        else:
            consult = await self.ctx.consults.snapshot(state.consult_id)
            await self._audit(state, "participant.joined", {"state": consult.state.value})
        participant.cancel_grace()
        if returning:
            await self.ctx.consults.reconnect_deadlines.clear(state.consult_id, state.role)
        consult_state = consult.state
        participant.status = "in_call" if consult_state is ConsultState.IN_CALL else (
            "waiting" if state.role == Role.GUARDIAN else "joined")
        if returning:
            await self._presence(live, state.role, status="back")
        await self._presence(live, state.role)
        if state.role == Role.GUARDIAN and consult_state is ConsultState.WAITING:
            await self._emit_to_role(live, "physician", "waiting", _waiting(consult))
            await self._consult_state(live, consult)
        result: dict[str, Any] = {
            "consult": consult.participant_view, "role": state.role,
            "ice_servers": list(self.ctx.settings.ice_servers), "presence": live.presence(),
            "chat": await self.ctx.chat.transcript(state.consult_id),
            "recording": "recording" if consult_state is ConsultState.IN_CALL else "idle",
        }
        if state.role == Role.PHYSICIAN and consult_state is ConsultState.WAITING:
            result["waiting"] = _waiting(consult)
        return ok(**result)

    @acknowledged("admit")
    async def on_admit(self, sid: str, data: Any) -> Ack:
        state = self._state(sid, Role.PHYSICIAN)
        parse(payloads.Empty, data)
        consult = await self.ctx.consults.admit(_actor(state), state.consult_id)
        live = self.live.get(state.consult_id)
        for participant in live.participants.values():
            if participant.sid is not None:
                participant.status = "in_call"
        await self.emit("admitted", {"state": consult.state.value}, room=live.room)
        await self._consult_state(live, consult)
        return ok(state=consult.state.value)

    @acknowledged("confirm_guardian_present")
    async def on_confirm_guardian_present(self, sid: str, data: Any) -> Ack:
        state = self._state(sid, Role.PHYSICIAN)
        parse(payloads.Empty, data)
        consult = await self.ctx.consults.confirm_guardian_present(_actor(state),
                                                                   state.consult_id)
        confirmed_at = consult.guardian_confirmed_at
        assert confirmed_at is not None
        live = self.live.get(state.consult_id)
        await self.emit("guardian_confirmed", {"confirmed_at": confirmed_at.isoformat()},
                        room=live.room)
        return ok(confirmed_at=confirmed_at.isoformat())

    @acknowledged("record_accompanying_physician")
    async def on_record_accompanying_physician(self, sid: str, data: Any) -> Ack:
        """A child under 6 needs a relevant professional physician present for an online
        prescription (互联网诊疗管理办法 第十九条): the treating physician records who."""
        state = self._state(sid, Role.PHYSICIAN)
        body = parse(AccompanyingPhysicianIn, data)
        recorded = await self.ctx.consults.record_accompanying_physician(
            _actor(state), state.consult_id, body)
        return ok(accompanying_physician=recorded)

    @acknowledged("end")
    async def on_end(self, sid: str, data: Any) -> Ack:
        state = self._state(sid, Role.PHYSICIAN)
        body = parse(EndConsult, data).root
        # Ending tells this namespace (consult_ended) through the consult service.
        ended = await self.ctx.consults.end(_actor(state), state.consult_id, body)
        return ok(state=ended.state.value, outcome=ended.outcome,
                  outcome_detail=ended.outcome_detail)

    async def consult_ended(self, ended: ConsultSnapshot) -> None:
        """The consult ended (by the physician over a socket or the API, or automatically)
        or was cancelled: everyone in the room sees it at once (on every node); the node
        that holds its media stops it and seals the archive."""
        consult_id = ended.id
        room = f"consult:{consult_id}"
        if ended.state is ConsultState.ENDED:
            await self.emit("ended", {"outcome": ended.outcome,
                                      "outcome_detail": ended.outcome_detail}, room=room)
        await self.emit("consult_state", {"state": ended.state.value,
                                          "outcome": ended.outcome}, room=room)
        if self.live.find(consult_id) is None and self.ctx.cluster is not None:
            owner = await self.ctx.cluster.owner_elsewhere(consult_id)
            if owner is not None and await self.ctx.cluster.channel.publish(
                    "consult_ended", {"consult_id": consult_id, "node_id": owner.node_id}):
                return  # its node stops the media and seals (finish_consult_here)
        await self.finish_consult_here(consult_id)

    async def finish_consult_here(self, consult_id: str) -> None:
        """This node's part of an ending, wherever it was decided: media, recordings, seal
        (called from another node through the cluster channel when the media is here)."""
        await self._write_pending_quality(consult_id)  # before the seal reads the log
        room = f"consult:{consult_id}"
        live = self.live.find(consult_id)
        if live is not None:
            live.ended = True
            live.cancel_timers()
            await live.close_media()
        await self.ctx.consults.reconnect_deadlines.clear(consult_id)
        if live is not None:
            self.live.forget(consult_id)
            await self.emit("recording", {"status": "stopped"}, room=room)
        self.ctx.still_taps.pop(consult_id, None)
        # Hashing recordings takes time: the guardian already has the outcome.
        self._in_background(self.ctx.close_consult(consult_id))
        if self.ctx.cluster is not None:
            await self.ctx.cluster.release(consult_id)
        self._count_participants()

    # -- the whitelist, at every event ---------------------------------------------------

    async def admit_event(self, sid: str) -> None:
        """A physician acts only while whitelisted: re-checked before each of their events
        (the standing is cached per node and forgotten at every change). A refused physician
        is told why and disconnected, whether or not the change itself reached this node."""
        state = self.sockets.get(sid)
        if state is None or state.role != Role.PHYSICIAN or self.ctx.standing is None:
            return
        try:
            await self.ctx.standing.require_active(state.subject)
        except PhysicianWithdrawn as error:
            self._in_background(self._send_away(sid, state, error.reasons, error.detail))
            raise

    async def physician_changed(self, change: PhysicianChange) -> None:
        """A physician's standing changed on this node: act here, then tell the others."""
        await self.physician_changed_here(change)
        if self.ctx.cluster is not None:
            await self.ctx.cluster.channel.publish("physician_changed", {
                "physician_id": change.physician_id, "withdrawn": change.withdrawn,
                "reasons": list(change.reasons), "message": change.message})

    async def physician_changed_here(self, change: PhysicianChange) -> None:
        if self.ctx.standing is not None:
            self.ctx.standing.forget(change.physician_id)
        if not change.withdrawn:
            return
        for sid, state in list(self.sockets.items()):
            if state.role == Role.PHYSICIAN and state.subject == change.physician_id:
                await self._send_away(sid, state, list(change.reasons), change.message)

    async def _send_away(self, sid: str, state: SocketState, reasons: list[str],
                         message: str) -> None:
        if self.sockets.get(sid) is not state:
            return  # already gone
        await self.emit("physician_not_whitelisted", {
            "code": PhysicianWithdrawn.code, "message": message, "reasons": reasons}, to=sid)
        await self._audit(state, "participant.withdrawn", {"reasons": reasons,
                                                           "message": message})
        await self.disconnect(sid)

    # -- media --------------------------------------------------------------------------

    @acknowledged("offer")
    async def on_offer(self, sid: str, data: Any) -> Ack:
        state = self._state(sid)
        body = parse(payloads.Offer, data)
        consult = await self.ctx.consults.snapshot(state.consult_id)
        if consult.state is not ConsultState.IN_CALL:
            raise EventRefused("transition_not_allowed",
                               f"media starts once the guardian is admitted; the consult is "
                               f"{consult.state.value}")
        live = self.live.get(state.consult_id)
        starting = live.media is None
        media = live.media_or_create(self.ctx.media_factory)
        answer = await media.answer(state.role, body.sdp)
        if starting:  # recording is mandatory: both sides see it from the first media on
            await self.emit("recording", {"status": "recording"}, room=live.room)
        await self._audit(state, "media.offer_answered", {"sdp_bytes": len(body.sdp)})
        return ok(sdp=answer, type="answer")

    @acknowledged("ice_candidate")
    async def on_ice_candidate(self, sid: str, data: Any) -> Ack:
        state = self._state(sid)
        body = parse(payloads.IceCandidate, data)
        live = self.live.find(state.consult_id)
        if live is None or live.media is None:
            raise EventRefused("no_offer_yet", "send the offer before ICE candidates")
        candidate = None if not body.candidate else body.model_dump(exclude_none=True)
        await live.media.add_ice_candidate(state.role, candidate)
        return ok()

    # -- photo capture ------------------------------------------------------------------

    @acknowledged("capture_request")
    async def on_capture_request(self, sid: str, data: Any) -> Ack:
        """The physician asks for a photo: the guardian's browser is asked for a full-
        resolution still (one-time token), and a still is decoded from the forwarded stream
        as the fallback that is always there."""
        state = self._state(sid, Role.PHYSICIAN)
        body = parse(payloads.CaptureRequest, data)
        site = site_selection(body.body_site, body.laterality, body.view)
        ticket = await self.ctx.photos.request_capture(_actor(state), state.consult_id, site,
                                                       body.retake_of)
        live = self.live.get(state.consult_id)
        request = ticket.request
        await self._emit_to_role(live, "guardian", "capture_requested", {
            "request_id": request.id, "token": ticket.token,
            "upload_url": f"/api/consults/{state.consult_id}/photos/capture",
            "body_site": request.body_site, "laterality": request.laterality,
            "view": request.view, "label_zh": site.label_zh, "label_en": site.label_en,
            "expires_at": request.expires_at.isoformat()})
        self._in_background(self._stream_still(live, ticket.request))
        return ok(request_id=request.id, expires_at=request.expires_at.isoformat())

    async def _stream_still(self, live: LiveConsult, request: CaptureRequest) -> None:
        media, tap = live.media, self.ctx.still_taps.get(live.consult_id)
        if media is None or tap is None:
            return
        try:
            still = await tap.capture("guardian", lambda: media.request_keyframe("guardian"))
            # Storing it tells this namespace (photo_captured) through the photo service.
            await self.ctx.photos.accept_stream_still(request, still)
        except CaptureDiscarded as error:
            # The call ended while the still was on its way: nothing was stored, and both
            # sides (the room outlives the call by its goodbyes) and the auditor are told.
            await self.ctx.consults.record_event(
                Actor.system("still_capture"), live.consult_id, "capture.discarded",
                {"request_id": request.id, "source": "stream", "reason": error.detail})
            await self.emit("capture_discarded", {"request_id": request.id,
                                                  "reason": error.detail}, room=live.room)
        except Exception as error:
            log.warning("stream still failed", extra={"consult_id": live.consult_id,
                                                        "error": repr(error)})
            await self.ctx.consults.record_event(
                Actor.system("still_capture"), live.consult_id, "capture.stream_failed",
                {"request_id": request.id, "error": type(error).__name__})

    async def photo_captured(self, consult_id: str, photo: dict[str, Any]) -> None:
        """A photo is stored: the physician's gallery and the guardian's screen show it."""
        await self.emit("photo_captured", photo, room=f"consult:{consult_id}")

    # -- chat and presence --------------------------------------------------------------

    @acknowledged("chat")
    async def on_chat(self, sid: str, data: Any) -> Ack:
        state = self._state(sid)
        if not state.chat.take():
            raise EventRefused("rate_limited", "too many chat messages; wait a moment")
        body = parse(payloads.Chat, data)
        message, created = await self.ctx.chat.post(_actor(state), state.consult_id, body.text,
                                                    body.client_id)
        if created:
            await self.emit("chat", message, room=self.live.get(state.consult_id).room)
        return ok(message=message)

    @acknowledged("presence")
    async def on_presence(self, sid: str, data: Any) -> Ack:
        state = self._state(sid)
        body = parse(payloads.Presence, data)
        live = self.live.get(state.consult_id)
        participant = live.participants[state.role]
        if participant.quality != body.quality:
            participant.quality = body.quality
            await self._presence(live, state.role)  # the other side sees every change
            _, trail = self._quality_trails.setdefault(
                (state.consult_id, state.role), (_actor(state), QualityTrail()))
            details = trail.change(body.quality, body.detail or {}, time.monotonic())
            if details is not None:  # else counted into the next entry
                await self._audit(state, "participant.quality", details)
        return ok()

    async def _write_pending_quality(self, consult_id: str, role: str | None = None) -> None:
        """The quality changes still counted go into the log (leaving, the end)."""
        for (trail_consult, trail_role), (actor, trail) in list(self._quality_trails.items()):
            if trail_consult != consult_id or role not in (None, trail_role):
                continue
            details = trail.pending(time.monotonic())
            if role is None:
                del self._quality_trails[(trail_consult, trail_role)]
            if details is not None:
                await self.ctx.consults.record_event(actor, consult_id, "participant.quality",
                                                     details)

    @acknowledged("leave")
    async def on_leave(self, sid: str, data: Any) -> Ack:
        state = self._state(sid)
        parse(payloads.Empty, data)
        state.left = True
        live = self.live.get(state.consult_id)
        participant = live.participants[state.role]
        participant.status = "left"
        participant.cancel_grace()
        await self._presence(live, state.role)
        await self._write_pending_quality(state.consult_id, state.role)
        await self._audit(state, "participant.left", {})
        if live.media is not None:
            await live.media.drop(state.role)
        return ok()

    # -- helpers ------------------------------------------------------------------------

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def wait_for_background(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def spend_event(self, sid: str) -> None:
        """A malformed event still costs the socket a token of its rate limit (acks.py refuses
        it before any handler runs): a flood of them is refused as `rate_limited` too."""
        self._state(sid)

    def _state(self, sid: str, role: Role | None = None) -> SocketState:
        state = self.sockets.get(sid)
        if state is None:
            raise EventRefused("unauthenticated", "this socket is not connected to a consult")
        if not state.events.take():
            raise EventRefused("rate_limited", "too many events; slow down")
        if role is not None and state.role != role.value:
            raise Forbidden(f"only the {role.value} may do this")
        return state

    async def on_refused(self, sid: str, event: str, ack: Ack) -> None:
        """Audit a refused event: each one is counted, a flood of one kind written once per
        window with its count (the refusal ledger), not once per event."""
        state = self.sockets.get(sid)
        if state is None:
            return
        error = ack["error"]
        await self._refused(Refusal.of(
            "signal.refused", _actor(state), target=event, reason=error["code"], source="",
            consult_id=state.consult_id, details={"event": event, **error}))

    async def _refused(self, refusal: Refusal) -> None:
        if self.ctx.refusals is not None:
            await self.ctx.refusals.record(refusal)
        elif refusal.consult_id is not None:  # no ledger plugged in: each one written
            await self.ctx.consults.record_event(
                Actor(refusal.kind.actor_role, refusal.kind.actor_id), refusal.consult_id,
                refusal.kind.action, {**refusal.details, "count": 1})

    async def _audit(self, state: SocketState, action: str, details: dict[str, Any]) -> None:
        await self.ctx.consults.record_event(_actor(state), state.consult_id, action, details)

    async def _presence(self, live: LiveConsult, role: str, status: str | None = None) -> None:
        participant = live.participants[role]
        await self.emit("presence", {"role": role, "status": status or participant.status,
                                     "quality": participant.quality},
                        room=live.room, skip_sid=participant.sid)

    async def _emit_to_role(self, live: LiveConsult, role: str, event: str,
                            data: dict[str, Any]) -> None:
        sid = live.participants[role].sid
        if sid is not None:
            await self.emit(event, data, to=sid)

    async def _consult_state(self, live: LiveConsult, consult: ConsultSnapshot) -> None:
        await self.emit("consult_state", {"state": consult.state.value,
                                          "outcome": consult.outcome}, room=live.room)

    def _count_participants(self) -> None:
        if self.ctx.metrics is not None:
            self.ctx.metrics.participants_connected.set(len(self.sockets))
            self.ctx.metrics.consults_in_call.set(self.live.in_call())


class WrongNode(EventRefused):
    """This consult lives on another node; `url` is where the browser reconnects."""

    def __init__(self, url: str) -> None:
        super().__init__("wrong_node", "this consult is served by another node")
        self.url = url


def _resumed_socket(deadline: ReconnectDeadline) -> SocketState:
    """Who a resumed deadline is about, as their socket would have said (for the audit)."""
    return SocketState(deadline.consult_id, deadline.role, deadline.subject)


def _actor(state: SocketState) -> Actor:
    return Actor(state.role, state.subject)


def _waiting(consult: ConsultSnapshot) -> dict[str, Any]:
    return {"guardian": {"name": consult.guardian_name,
                         "relationship": consult.guardian_relationship},
            "since": consult.updated_at.isoformat()}


def _remote(environ: dict[str, Any]) -> str:
    request = environ.get("aiohttp.request")
    remote = getattr(request, "remote", None)
    return str(remote or environ.get("REMOTE_ADDR") or "unknown")
