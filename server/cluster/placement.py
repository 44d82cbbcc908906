"""Consult placement: a consult's media lives on exactly one node.

The first join places the consult on the least-loaded live node; Redis's atomic
`SET … NX` is the lock, so two nodes racing both read "unplaced" but only one write wins and
both then agree on the winner. A consult whose node died (its heartbeat key expired) is
taken over with a compare-and-set, so two survivors cannot both take it either.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis

from server.cluster.node_registry import NodeInfo, NodeRegistry

PLACEMENT_KEY = "{cluster}:consult:{consult_id}:node"
PLACEMENT_TTL_SECONDS = 24 * 3600  # a consult window is hours; a forgotten key must expire

# Replace the owner only if it is still the dead node we saw: KEYS[1]=key, ARGV=[dead, new, ttl]
_TAKE_OVER = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return ARGV[2]
end
return current
"""


class NoLiveNode(Exception):
    pass


@dataclass(frozen=True)
class Placement:
    consult_id: str
    node: NodeInfo
    here: bool  # the asking node owns it


class ConsultPlacement:
    def __init__(self, client: redis.Redis, registry: NodeRegistry) -> None:
        self.redis = client
        self.registry = registry
        self._take_over = client.register_script(_TAKE_OVER)

    async def owner(self, consult_id: str) -> NodeInfo | None:
        node_id = await self.redis.get(self._key(consult_id))
        if node_id is None:
            return None
        return await self.registry.get(_text(node_id))

    async def place(self, consult_id: str) -> Placement:
        """Where this consult's media lives: the current owner if it is alive, otherwise a
        new placement on the least-loaded live node that is not draining."""
        key = self._key(consult_id)
        current = await self.redis.get(key)
        if current is not None:
            owner = await self.registry.get(_text(current))
            if owner is not None:
                return self._placement(consult_id, owner)
        candidates = [n for n in await self.registry.live_nodes() if not n.draining]
        if not candidates:
            raise NoLiveNode("no live node can take the consult")
        chosen = candidates[0]
        if current is None:
            won = await self.redis.set(key, chosen.node_id, nx=True, ex=PLACEMENT_TTL_SECONDS)
            stored = chosen.node_id if won else await self.redis.get(key)
            if stored is None:  # placed and released again in between: ask afresh
                return await self.place(consult_id)
            winner = _text(stored)
        else:
            winner = _text(await self._take_over(keys=[key], args=[
                _text(current), chosen.node_id, PLACEMENT_TTL_SECONDS]))
        node = next((n for n in candidates if n.node_id == winner), None) \
            or await self.registry.get(winner)
        if node is None:
            raise NoLiveNode(f"the consult was placed on {winner}, which is gone")
        return self._placement(consult_id, node)

    async def release(self, consult_id: str) -> None:
        """Forget the placement when the consult ends (only if this node holds it)."""
        key = self._key(consult_id)
        current = await self.redis.get(key)
        if current is not None and _text(current) == self.registry.node_id:
            await self.redis.delete(key)

    def _key(self, consult_id: str) -> str:
        return PLACEMENT_KEY.format(cluster=self.registry.cluster, consult_id=consult_id)

    def _placement(self, consult_id: str, node: NodeInfo) -> Placement:
        return Placement(consult_id, node, node.node_id == self.registry.node_id)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
