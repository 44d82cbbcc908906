"""What one node must tell the others at once: one Redis pub/sub channel per cluster.

Pub/sub keeps nothing for a node that is not listening, so whoever listens is told of every
gap (`on_gap`: at each (re)subscription) and must assume it missed something — the
physician standing cache forgets everything then. Messages are small JSON objects,
``{"kind", "origin", "payload"}``; a node ignores its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis

log = logging.getLogger("shouzhen.cluster")
CHANNEL = "{cluster}:live"
RESUBSCRIBE_SECONDS = 1.0

Listener = Callable[[str, dict[str, Any]], Awaitable[None]]


class ClusterChannel:
    def __init__(self, redis_url: str, *, cluster: str, node_id: str) -> None:
        # A client of its own without a read timeout: a subscription waits for messages.
        self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=5,
                                            health_check_interval=10)
        self.channel = CHANNEL.format(cluster=cluster)
        self.node_id = node_id
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def publish(self, kind: str, payload: dict[str, Any]) -> bool:
        """Tell the other nodes; False (logged) when Redis cannot be reached."""
        message = json.dumps({"kind": kind, "origin": self.node_id, "payload": payload},
                             ensure_ascii=False)
        try:
            await self._client.publish(self.channel, message)
        except (redis.RedisError, OSError) as error:
            log.warning("could not tell the other nodes", extra={"kind": kind,
                                                                 "error": repr(error)})
            return False
        return True

    def listen(self, on_message: Listener, on_gap: Callable[[], None]) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._listen(on_message, on_gap))

    async def _listen(self, on_message: Listener, on_gap: Callable[[], None]) -> None:
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                on_gap()  # whatever was said while this node was not subscribed is lost
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=1.0)
                    if message is not None:
                        await self._hear(message.get("data"), on_message)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as error:
                self.subscribed.clear()
                log.warning("cluster channel lost; subscribing again",
                            extra={"error": repr(error)})
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _hear(self, data: Any, on_message: Listener) -> None:
        try:
            message = json.loads(data)
            kind, origin, payload = message["kind"], message["origin"], message["payload"]
        except (TypeError, ValueError, KeyError):
            log.warning("unreadable cluster message ignored")
            return
        if origin == self.node_id or not isinstance(payload, dict):
            return
        try:
            await on_message(str(kind), payload)
        except Exception:
            log.exception("a cluster message could not be handled", extra={"kind": kind})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()
