"""Stills from the forwarded stream: the fallback photo that is always available.

A packet sink keeps each party's video from its latest keyframe on (a copy the media layer
already made for sinks). A capture asks the sender for a fresh keyframe, waits for it, and
decodes that keyframe in an executor — the forwarding path never decodes anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import av

from media.still_capture import StillFrame, decode_latest

# A browser may send a keyframe only every few seconds; cap the memory kept meanwhile.
MAX_PACKETS_KEPT = 300


@dataclass
class _VideoSince:
    codec: str = ""
    packets: list[av.Packet] = field(default_factory=list)
    keyframe_at: float = 0.0
    waiters: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)


class StillUnavailable(Exception):
    code = "still_unavailable"


class StillTap:
    """A `media.consult_media.PacketSink` for one consult."""

    def __init__(self) -> None:
        self._by_role: dict[str, _VideoSince] = {}

    def on_packet(self, role: str, kind: Literal["audio", "video"], codec: str,
                  packet: av.Packet) -> None:
        if kind != "video":
            return
        since = self._by_role.setdefault(role, _VideoSince())
        if packet.is_keyframe:
            since.codec, since.packets, since.keyframe_at = codec, [packet], time.monotonic()
            for asked_at, waiter in since.waiters:
                if asked_at <= since.keyframe_at and not waiter.done():
                    waiter.set_result(None)
            since.waiters = [(t, w) for t, w in since.waiters if not w.done()]
        elif since.packets and len(since.packets) < MAX_PACKETS_KEPT:
            since.packets.append(packet)

    async def capture(self, role: str, request_keyframe: Callable[[], object],
                      within: float = 3.0) -> StillFrame:
        """A fresh keyframe from `role`'s camera, decoded. `request_keyframe` sends the PLI."""
        since = self._by_role.setdefault(role, _VideoSince())
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[None] = loop.create_future()
        since.waiters.append((time.monotonic(), arrived))
        outcome = request_keyframe()
        if asyncio.iscoroutine(outcome):
            await outcome
        try:
            await asyncio.wait_for(arrived, within)
        except TimeoutError:
            if not since.packets:
                raise StillUnavailable(f"no video from the {role} to take a still from") from None
        packets, codec = list(since.packets[:1]), since.codec  # the keyframe itself
        return await loop.run_in_executor(None, decode_latest, packets, codec)
