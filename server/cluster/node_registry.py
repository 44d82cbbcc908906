"""The nodes of a cluster, in Redis: each node keeps a key alive with its id, public URL and
load; a node that stops heartbeating disappears when its key expires.

Only URLs inside the configured cluster origins are believed, so a forged entry in Redis can
never send a browser somewhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import redis.asyncio as redis

log = logging.getLogger("shouzhen.cluster")
NODE_KEY = "{cluster}:node:{node_id}"
HEARTBEAT_SECONDS = 2.0
NODE_TTL_SECONDS = 6  # three missed heartbeats and the node is gone


@dataclass(frozen=True)
class NodeLoad:
    consults: int = 0
    forwarded_tracks: int = 0
    cpu_percent: float = 0.0


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    url: str
    load: NodeLoad
    draining: bool
    started_at: float
    seen_at: float

    def score(self) -> tuple[int, float, str]:
        """Least loaded first; ties broken by id so every node agrees on the order."""
        return (self.load.consults, self.load.cpu_percent, self.node_id)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def trusted(url: str, cluster_origins: frozenset[str]) -> bool:
    return bool(cluster_origins) and origin_of(url) in cluster_origins


class NodeRegistry:
    def __init__(self, client: redis.Redis, node_id: str, url: str,
                 cluster_origins: frozenset[str], *, cluster: str = "shouzhen",
                 load: Callable[[], NodeLoad] = NodeLoad,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS,
                 ttl_seconds: int = NODE_TTL_SECONDS) -> None:
        self.redis = client
        self.cluster = cluster
        self.heartbeat_seconds = heartbeat_seconds
        self.ttl_seconds = ttl_seconds
        self.node_id = node_id
        self.url = url
        self.cluster_origins = cluster_origins
        self.load = load
        self.draining = False
        self.started_at = time.time()
        self._task: asyncio.Task[None] | None = None

    async def heartbeat(self) -> None:
        entry = {"node_id": self.node_id, "url": self.url, "load": asdict(self.load()),
                 "draining": self.draining, "started_at": self.started_at,
                 "seen_at": time.time(), "pid": os.getpid()}
        await self.redis.set(self._key(self.node_id), json.dumps(entry), ex=self.ttl_seconds)

    async def start(self) -> None:
        await self.heartbeat()  # fails loudly here if Redis is down at start-up
        self._task = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.heartbeat()
            except (redis.RedisError, OSError) as error:
                # Calls in progress do not need Redis; keep beating until it returns.
                log.warning("node heartbeat failed", extra={"node_id": self.node_id,
                                                            "error": repr(error)})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(redis.RedisError, OSError):
            await self.redis.delete(self._key(self.node_id))

    async def drain(self) -> None:
        self.draining = True
        await self.heartbeat()

    async def get(self, node_id: str) -> NodeInfo | None:
        raw = await self.redis.get(self._key(node_id))
        return self._parse(raw) if raw is not None else None

    async def live_nodes(self) -> list[NodeInfo]:
        nodes: list[NodeInfo] = []
        async for key in self.redis.scan_iter(match=self._key("*"), count=100):
            raw = await self.redis.get(key)
            node = self._parse(raw) if raw is not None else None
            if node is not None:
                nodes.append(node)
        return sorted(nodes, key=NodeInfo.score)

    def _key(self, node_id: str) -> str:
        return NODE_KEY.format(cluster=self.cluster, node_id=node_id)

    def _parse(self, raw: bytes | str) -> NodeInfo | None:
        try:
            entry = json.loads(raw)
            node = NodeInfo(node_id=str(entry["node_id"]), url=str(entry["url"]),
                            load=NodeLoad(**entry["load"]), draining=bool(entry["draining"]),
                            started_at=float(entry["started_at"]),
                            seen_at=float(entry["seen_at"]))
        except (ValueError, KeyError, TypeError):
            log.error("unreadable node entry in Redis", extra={"entry": str(raw)[:200]})
            return None
        if not trusted(node.url, self.cluster_origins):
            log.error("node entry with a URL outside the cluster origins ignored",
                      extra={"node_id": node.node_id, "url": node.url})
            return None
        return node
