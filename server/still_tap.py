"""Stills from the forwarded stream: the fallback photo that is always available.

A frame sink keeps each party's video from its latest keyframe on (references to the
immutable frames the media layer shares). A capture asks the sender for a fresh keyframe,
waits for it, and decodes that keyframe in an executor — the forwarding path never decodes
anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from media.encoded_frame import EncodedFrame
from media.still_capture import StillFrame, decode_latest

# A browser may send a keyframe only every few seconds; cap the memory kept meanwhile.
MAX_FRAMES_KEPT = 300


@dataclass
class _VideoSince:
    codec: str = ""
    frames: list[EncodedFrame] = field(default_factory=list)
    keyframe_at: float = 0.0
    waiters: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)


class StillUnavailable(Exception):
    code = "still_unavailable"


class StillTap:
    """A `media.consult_media.FrameSink` for one consult."""

    def __init__(self) -> None:
        self._by_role: dict[str, _VideoSince] = {}

    def on_frame(self, role: str, frame: EncodedFrame) -> None:
        if frame.kind != "video":
            return
        since = self._by_role.setdefault(role, _VideoSince())
        if frame.keyframe:
            since.codec, since.frames, since.keyframe_at = frame.codec, [frame], time.monotonic()
            for asked_at, waiter in since.waiters:
                if asked_at <= since.keyframe_at and not waiter.done():
                    waiter.set_result(None)
            since.waiters = [(t, w) for t, w in since.waiters if not w.done()]
        elif since.frames and len(since.frames) < MAX_FRAMES_KEPT:
            since.frames.append(frame)

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
            if not since.frames:
                raise StillUnavailable(f"no video from the {role} to take a still from") from None
        packets, codec = [f.to_packet() for f in since.frames[:1]], since.codec  # the keyframe
        return await loop.run_in_executor(None, decode_latest, packets, codec)
