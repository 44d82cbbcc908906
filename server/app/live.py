"""Composes the live consult: the Socket.IO server with the `/consult` namespace, driving
aiortc media through the encoded-frame forwarding of `media/`. Media events that matter to
an auditor (connections, tracks, codec, overflows) become audit entries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from aiohttp import web

from media.consult_media import (
    ConsultMedia,
    FrameSink,
    MediaConfig,
    MediaEvent,
    verify_media_runtime,
)
from media.encoded_frame import EncodedFrame
from recorder.consult_recorder import ConsultRecorder
from recorder.storage import recordings_key
from server.api.auth import REFUSALS
from server.api.request_services import Services
from server.clinical.live_notifier import PhysicianChange
from server.cluster.node_cluster import Cluster
from server.cluster.node_registry import NodeLoad
from server.kernel.audit_log import Actor
from server.photos.still_tap import StillTap
from server.records.recording_ledger import AuditedRecordingLedger
from signaling.namespace import ConsultNamespace, SignalingContext
from signaling.payloads import MAX_SDP_CHARS
from signaling.transport_guard import GuardedSocketServer

log = logging.getLogger("shouzhen.live")
NAMESPACE_KEY = web.AppKey("consult_namespace", ConsultNamespace)
RECONNECT_SWEEP_KEY = web.AppKey("reconnect_sweep", list[asyncio.Task[None]])
# Keyframe requests are frequent and say nothing an auditor needs; everything else is kept.
UNAUDITED_MEDIA_EVENTS = frozenset({"keyframe_requested"})
# How often a node looks for grace periods it should be running but is not (a consult it took
# over from a dead node): one read of the consults in call; at start-up it looks at once.
RECONNECT_SWEEP_SECONDS = 5.0


class MediaEventAudit:
    """Turns media events (synchronous callbacks on the loop) into audit entries, written
    in order by one task per node so a burst never blocks the media path; a participant's
    new peer also starts a new recording segment."""

    def __init__(self, services: Services, recorders: dict[str, ConsultRecorder]) -> None:
        self.services = services
        self.recorders = recorders
        self.queue: asyncio.Queue[MediaEvent] = asyncio.Queue(maxsize=10_000)
        self.task: asyncio.Task[None] | None = None

    def __call__(self, event: MediaEvent) -> None:
        if event.kind == "peer_created" and int(event.detail.get("generation", 1)) > 1:
            recorder = self.recorders.get(event.consult_id)
            if recorder is not None:
                recorder.new_segment(event.role, "reconnect")
        if event.kind in UNAUDITED_MEDIA_EVENTS:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            log.error("media audit queue full; event not recorded",
                      extra={"consult_id": event.consult_id, "kind": event.kind})
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while not self.queue.empty():
            event = self.queue.get_nowait()
            try:
                await self.services.consults.record_event(
                    Actor.system("media"), event.consult_id, f"media.{event.kind}",
                    {"role": event.role, **_jsonable(event.detail)})
            except Exception:
                log.exception("could not audit a media event",
                              extra={"consult_id": event.consult_id, "kind": event.kind})


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
            for k, v in detail.items()}


class FanoutSink:
    """Hands each encoded packet to several sinks (still tap, recorder); one sink failing
    never stops the others or the forwarding that called it."""

    def __init__(self, consult_id: str, sinks: list[FrameSink]) -> None:
        self.consult_id = consult_id
        self.sinks = sinks

    def on_frame(self, role: str, frame: EncodedFrame) -> None:
        for sink in self.sinks:
            try:
                sink.on_frame(role, frame)
            except Exception:
                log.exception("a frame sink failed", extra={"consult_id": self.consult_id})


def attach_live_consults(app: web.Application, services: Services) -> ConsultNamespace:
    verify_media_runtime()  # fail at start-up, not at the first call, if aiortc moved
    archivist = services.archivist
    recorders: dict[str, ConsultRecorder] = {}
    audit_media = MediaEventAudit(services, recorders)
    config = MediaConfig(ice_servers=[dict(s) for s in services.settings.ice_servers],
                         forwarding=services.settings.forwarding)  # type: ignore[arg-type]
    still_taps: dict[str, StillTap] = {}

    def media_for(consult_id: str) -> ConsultMedia:
        tap = still_taps.setdefault(consult_id, StillTap())
        recorder = recorders.setdefault(consult_id, ConsultRecorder(
            consult_id, archivist.recordings_directory(consult_id), recordings_key(consult_id),
            AuditedRecordingLedger(services.db)))
        media = ConsultMedia(consult_id, config, sink=FanoutSink(consult_id, [tap, recorder]),
                             on_event=audit_media)
        recorder.request_keyframe = media.request_keyframe
        return media

    async def close_consult(consult_id: str) -> None:
        """After the call: recordings finished and listed, then the archive sealed."""
        recorder = recorders.pop(consult_id, None)
        if recorder is not None:
            await recorder.finish()
        try:
            await archivist.seal(consult_id)
        except Exception:
            log.exception("sealing failed; the consult stays ended, not archived",
                          extra={"consult_id": consult_id})

    settings = services.settings
    namespace = ConsultNamespace(SignalingContext(
        settings=settings, clock=services.clock, consults=services.consults,
        chat=services.chat, media_factory=media_for, photos=services.photos,
        still_taps=still_taps, close_consult=close_consult, metrics=services.metrics,
        standing=services.standing))
    # From here on, what the domain services report reaches the people in the call.
    services.live.plug(namespace)
    namespace.ctx.refusals = app[REFUSALS]  # counted with the HTTP API's refusals
    cluster: Cluster | None = None
    manager: socketio.AsyncManager | None = None
    if settings.redis_url:
        cluster = Cluster(settings, load=lambda: NodeLoad(
            consults=len(namespace.live), forwarded_tracks=2 * namespace.live.in_call()))
        namespace.ctx.cluster = cluster
        # Emits to a consult's room reach sockets on every node.
        manager = socketio.AsyncRedisManager(settings.redis_url,
                                             channel=f"{settings.cluster_name}:socketio")
    # Malformed client traffic closes its session with one log line (signaling/transport_guard.py).
    sio = GuardedSocketServer(
        async_mode="aiohttp", client_manager=manager, max_http_buffer_size=4 * MAX_SDP_CHARS,
        # A redirected browser reconnects to another node of the cluster: cross-origin.
        cors_allowed_origins=sorted(settings.effective_cluster_origins) if cluster else None)
    sio.register_namespace(namespace)
    sio.attach(app)
    app[NAMESPACE_KEY] = namespace

    async def recover_recordings(app: web.Application) -> None:
        recovered = await archivist.recover()
        if recovered:
            log.warning("recovered unfinished recordings", extra={"segments": len(recovered)})

    app.on_startup.append(recover_recordings)

    app[RECONNECT_SWEEP_KEY] = []

    async def close_live_consults(app: web.Application) -> None:
        for task in app[RECONNECT_SWEEP_KEY]:
            task.cancel()
        await namespace.live.close_all()
        await namespace.wait_for_background()
        for recorder in list(recorders.values()):
            await recorder.finish()
        if cluster is not None:
            await cluster.stop()

    if cluster is not None:
        async def heard(kind: str, payload: dict[str, Any]) -> None:
            """What another node said: a physician changed, or a consult whose media is
            here ended there."""
            if kind == "physician_changed":
                await namespace.physician_changed_here(PhysicianChange(
                    str(payload["physician_id"]), bool(payload.get("withdrawn")),
                    tuple(str(r) for r in payload.get("reasons", ())),
                    str(payload.get("message", ""))))
            elif kind == "consult_ended" and payload.get("node_id") == cluster.node_id:
                await namespace.finish_consult_here(str(payload["consult_id"]))

        async def join_cluster(app: web.Application) -> None:
            await cluster.start()
            # A gap in what this node heard may hide a suspension: forget every standing.
            cluster.channel.listen(heard, on_gap=services.standing.forget_all)

        app.on_startup.append(join_cluster)
    app.on_shutdown.append(close_live_consults)
    return namespace


async def resume_calls_left_open(app: web.Application) -> None:
    """Calls left open by a crash end as they would have without it: the reconnect grace
    periods are resumed from the database, then looked for again every few seconds (a consult
    taken over from a dead node). A start-up hook after the migration and after the cluster
    is joined, so that only the consult's owner acts."""
    namespace = app[NAMESPACE_KEY]
    resumed = await namespace.resume_reconnect_deadlines()
    if resumed:
        log.warning("resumed reconnect grace periods", extra={"participants": resumed})
    app[RECONNECT_SWEEP_KEY].append(
        asyncio.get_running_loop().create_task(_sweep_reconnect_deadlines(namespace)))


async def _sweep_reconnect_deadlines(namespace: ConsultNamespace) -> None:
    while True:
        await asyncio.sleep(RECONNECT_SWEEP_SECONDS)
        try:
            await namespace.resume_reconnect_deadlines()
        except Exception:
            log.exception("could not resume reconnect deadlines; trying again")
