"""Running as one of several nodes: composes the node registry and consult placement from
the configuration, and refuses configurations that would split the brain silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as redis

from server.cluster.cluster_channel import ClusterChannel
from server.cluster.node_registry import NodeInfo, NodeLoad, NodeRegistry
from server.cluster.placement import ConsultPlacement, NoLiveNode, Placement
from server.kernel.config import Settings

log = logging.getLogger("shouzhen.cluster")


class ClusterUnavailable(Exception):
    pass


class Cluster:
    def __init__(self, settings: Settings, load: Callable[[], NodeLoad]) -> None:
        if settings.effective_database_url.startswith("sqlite"):
            raise ClusterUnavailable(
                "REDIS_URL is set (several nodes) but the database is SQLite: every node would "
                "keep its own records. Set DATABASE_URL to the shared PostgreSQL.")
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.redis_url, socket_timeout=5,
                                          socket_connect_timeout=5)
        self.registry = NodeRegistry(self.redis, settings.effective_node_id, settings.base_url,
                                     settings.effective_cluster_origins,
                                     cluster=settings.cluster_name, load=load)
        self.placement = ConsultPlacement(self.redis, self.registry)
        self.channel = ClusterChannel(settings.redis_url, cluster=settings.cluster_name,
                                      node_id=settings.effective_node_id)

    async def start(self) -> None:
        try:
            await self.registry.start()
        except (redis.RedisError, OSError) as error:
            raise ClusterUnavailable(
                f"REDIS_URL is set but Redis is unreachable ({error}); a node never runs on "
                "its own when configured for a cluster") from None
        log.info("joined the cluster", extra={"node_id": self.registry.node_id,
                                              "cluster": self.settings.cluster_name,
                                              "url": self.settings.base_url})

    async def place(self, consult_id: str, *, attempts: int = 5) -> Placement:
        """Where the consult lives; while Redis is away, wait and retry for a few seconds."""
        for attempt in range(attempts):
            try:
                return await self.placement.place(consult_id)
            except (redis.RedisError, OSError, NoLiveNode) as error:
                if attempt == attempts - 1:
                    raise ClusterUnavailable(f"cannot place the consult now: {error}") from None
                await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    @property
    def node_id(self) -> str:
        return self.registry.node_id

    async def owner_elsewhere(self, consult_id: str) -> NodeInfo | None:
        """The live node other than this one that holds the consult, if any (None when Redis
        cannot say: the caller then does the work itself, as a single node would)."""
        try:
            owner = await self.placement.owner(consult_id)
        except (redis.RedisError, OSError):
            return None
        if owner is None or owner.node_id == self.registry.node_id:
            return None
        return owner

    async def release(self, consult_id: str) -> None:
        try:
            await self.placement.release(consult_id)
        except (redis.RedisError, OSError):
            log.warning("could not release a placement; it expires by itself",
                        extra={"consult_id": consult_id})

    async def drain(self) -> None:
        await self.registry.drain()

    async def stop(self) -> None:
        await self.channel.stop()
        await self.registry.stop()
        await self.redis.aclose()
