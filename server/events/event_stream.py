"""Publishing events to a Redis Stream (``XADD shouzhen:events * …``).

Each entry carries the event id, type, consult id, creation time and the JSON data, so a
consumer (``XREAD``/``XREADGROUP``) can deduplicate on ``id``. On top of that, the XADD runs
inside a small Lua script together with ``SET <stream>:seen:<event id> NX EX`` — atomically
in Redis — so a dispatcher that crashed after the XADD but before recording the delivery does
not add the same event twice when it retries (within the dedupe window).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis.asyncio as aioredis

from server.events.webhooks import OutboundEvent

DEDUPE_SECONDS = 7 * 24 * 3600

# KEYS[1] stream, KEYS[2] dedupe key; ARGV[1] dedupe ttl, ARGV[2] maxlen (0: none), then
# field/value pairs. Returns {entry id, 1 if the event had been added before else 0}.
_XADD_ONCE = """
local seen = redis.call('GET', KEYS[2])
if seen then return {seen, 1} end
local args = {'XADD', KEYS[1]}
local maxlen = tonumber(ARGV[2])
if maxlen > 0 then
  table.insert(args, 'MAXLEN'); table.insert(args, '~'); table.insert(args, maxlen)
end
table.insert(args, '*')
for i = 3, #ARGV do table.insert(args, ARGV[i]) end
local id = redis.call(unpack(args))
redis.call('SET', KEYS[2], id, 'EX', tonumber(ARGV[1]))
return {id, 0}
"""


def stream_fields(event: OutboundEvent) -> dict[str, str]:
    """The entry's fields: flat strings, the data as one JSON text."""
    return {"id": event.event_id, "type": event.event_type,
            "consult_id": event.consult_id or "", "created_at": event.created_at.isoformat(),
            "data": json.dumps(event.data, ensure_ascii=False, separators=(",", ":"),
                               sort_keys=True)}


@dataclass
class StreamAdded:
    entry_id: str
    duplicate: bool


class EventStreamPublisher:
    """One Redis connection pool, one stream key."""

    def __init__(self, redis_url: str, stream_key: str, *, timeout: float,
                 maxlen: int = 0) -> None:
        self.stream_key = stream_key
        self.maxlen = maxlen
        self.redis = aioredis.from_url(redis_url, socket_timeout=timeout,
                                       socket_connect_timeout=timeout)
        self._script = self.redis.register_script(_XADD_ONCE)

    def dedupe_key(self, event_id: str) -> str:
        return f"{self.stream_key}:seen:{event_id}"

    async def publish(self, event: OutboundEvent) -> StreamAdded:
        fields = stream_fields(event)
        flat = [item for pair in fields.items() for item in pair]
        entry, seen = await self._script(
            keys=[self.stream_key, self.dedupe_key(event.event_id)],
            args=[DEDUPE_SECONDS, self.maxlen, *flat])
        entry_id = entry.decode() if isinstance(entry, bytes) else str(entry)
        return StreamAdded(entry_id=entry_id, duplicate=bool(int(seen)))

    async def close(self) -> None:
        await self.redis.aclose()
