"""Composes the live consult: the Socket.IO server with the `/consult` namespace, driving
aiortc media through the encoded-frame forwarding of `media/`. Media events that matter to
an auditor (connections, tracks, codec, overflows) become audit entries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from aiohttp import web

from media import forwarding
from media.consult_media import ConsultMedia, MediaConfig, MediaEvent
from server.audit_log import Actor
from server.chat import ChatLog
from server.cluster import Cluster
from server.node_registry import NodeLoad
from server.services import Services
from signaling.namespace import ConsultNamespace, SignalingContext
from signaling.payloads import MAX_SDP_CHARS

log = logging.getLogger("shouzhen.live")
NAMESPACE_KEY = web.AppKey("consult_namespace", ConsultNamespace)
# Keyframe requests are frequent and say nothing an auditor needs; everything else is kept.
UNAUDITED_MEDIA_EVENTS = frozenset({"keyframe_requested"})


class MediaEventAudit:
    """Turns media events (synchronous callbacks on the loop) into audit entries, written
    in order by one task per node so a burst never blocks the media path."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.queue: asyncio.Queue[MediaEvent] = asyncio.Queue(maxsize=10_000)
        self.task: asyncio.Task[None] | None = None

    def __call__(self, event: MediaEvent) -> None:
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


def attach_live_consults(app: web.Application, services: Services) -> ConsultNamespace:
    forwarding.install()  # fail at start-up, not at the first call, if aiortc moved
    audit_media = MediaEventAudit(services)
    config = MediaConfig(ice_servers=[dict(s) for s in services.settings.ice_servers])

    def media_for(consult_id: str) -> ConsultMedia:
        return ConsultMedia(consult_id, config, sink=None, on_event=audit_media)

    settings = services.settings
    namespace = ConsultNamespace(SignalingContext(
        settings=settings, clock=services.clock, consults=services.consults,
        chat=ChatLog(services.db, services.clock), media_factory=media_for,
        metrics=services.metrics))
    cluster: Cluster | None = None
    manager: socketio.AsyncManager | None = None
    if settings.redis_url:
        cluster = Cluster(settings, load=lambda: NodeLoad(
            consults=len(namespace.live), forwarded_tracks=2 * namespace.live.in_call()))
        namespace.ctx.cluster = cluster
        # Emits to a consult's room reach sockets on every node.
        manager = socketio.AsyncRedisManager(settings.redis_url,
                                             channel=f"{settings.cluster_name}:socketio")
    sio = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=manager, max_http_buffer_size=4 * MAX_SDP_CHARS,
        # A redirected browser reconnects to another node of the cluster: cross-origin.
        cors_allowed_origins=sorted(settings.effective_cluster_origins) if cluster else None,
        logger=False, engineio_logger=False)
    sio.register_namespace(namespace)
    sio.attach(app)
    app[NAMESPACE_KEY] = namespace

    async def close_live_consults(app: web.Application) -> None:
        await namespace.live.close_all()
        if cluster is not None:
            await cluster.stop()

    if cluster is not None:
        async def join_cluster(app: web.Application) -> None:
            await cluster.start()

        app.on_startup.append(join_cluster)
    app.on_shutdown.append(close_live_consults)
    return namespace
