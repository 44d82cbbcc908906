"""What this node knows about a consult while it is live: who is connected on which socket,
their presence, reconnect grace timers, and the consult's media."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from signaling.media_port import MediaFactory, MediaPort
from signaling.rate_limit import TokenBucket, chat_bucket, event_bucket

ROLES = ("physician", "guardian")


@dataclass
class Participant:
    role: str
    sid: str | None = None
    status: str = "absent"  # joined | waiting | in_call | reconnecting | back | left | interrupted
    quality: str | None = None
    grace: asyncio.Task[None] | None = None
    since: float = field(default_factory=time.time)

    def cancel_grace(self) -> None:
        if self.grace is not None and not self.grace.done():
            self.grace.cancel()
        self.grace = None


@dataclass
class SocketState:
    consult_id: str
    role: str
    subject: str
    events: TokenBucket = field(default_factory=event_bucket)
    chat: TokenBucket = field(default_factory=chat_bucket)
    left: bool = False


@dataclass
class LiveConsult:
    consult_id: str
    participants: dict[str, Participant] = field(
        default_factory=lambda: {role: Participant(role) for role in ROLES})
    media: MediaPort | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended: bool = False

    @property
    def room(self) -> str:
        return f"consult:{self.consult_id}"

    def other(self, role: str) -> Participant:
        return self.participants["guardian" if role == "physician" else "physician"]

    def presence(self) -> dict[str, dict[str, str | None]]:
        return {role: {"status": p.status, "quality": p.quality}
                for role, p in self.participants.items()}

    def media_or_create(self, factory: MediaFactory) -> MediaPort:
        if self.media is None:
            self.media = factory(self.consult_id)
        return self.media

    async def close_media(self) -> None:
        media, self.media = self.media, None
        if media is not None:
            await media.close()

    def cancel_timers(self) -> None:
        for participant in self.participants.values():
            participant.cancel_grace()


class LiveConsults:
    """The live consults on this node, by id."""

    def __init__(self) -> None:
        self._by_id: dict[str, LiveConsult] = {}

    def get(self, consult_id: str) -> LiveConsult:
        live = self._by_id.get(consult_id)
        if live is None:
            live = self._by_id[consult_id] = LiveConsult(consult_id)
        return live

    def find(self, consult_id: str) -> LiveConsult | None:
        return self._by_id.get(consult_id)

    def forget(self, consult_id: str) -> None:
        self._by_id.pop(consult_id, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def in_call(self) -> int:
        return sum(1 for live in self._by_id.values() if live.media is not None and not live.ended)

    async def close_all(self) -> None:
        for live in list(self._by_id.values()):
            live.cancel_timers()
            with contextlib.suppress(Exception):
                await live.close_media()
        self._by_id.clear()
