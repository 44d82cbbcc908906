"""Stills from the forwarded stream: the fallback photo that is always available.

A frame sink keeps each party's latest video keyframe (a reference to the immutable frame
the media layer shares). A capture asks the sender for a fresh keyframe, waits for it, and
decodes that keyframe in an executor — the forwarding path never decodes anything. When no
fresh keyframe comes in time, the latest one kept is the still.

Only the keyframe is kept: it is all a capture decodes. Keeping the frames after it cost
1.8 MB per party at 1.4 Mbit/s, and at 25 consults 1 500 objects a second lived long enough
to reach the garbage collector's oldest generation: a full collection, a loop stall of
50–80 ms, every ten seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from media.encoded_frame import EncodedFrame
from media.still_capture import StillFrame, decode_latest


@dataclass
class _LatestKeyframe:
    keyframe: EncodedFrame | None = None
    keyframe_at: float = 0.0
    waiters: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)


class StillUnavailable(Exception):
    code = "still_unavailable"


class StillTap:
    """A `media.consult_media.FrameSink` for one consult."""

    def __init__(self) -> None:
        self._by_role: dict[str, _LatestKeyframe] = {}

    def on_frame(self, role: str, frame: EncodedFrame) -> None:
        if frame.kind != "video" or not frame.keyframe:
            return
        latest = self._by_role.setdefault(role, _LatestKeyframe())
        latest.keyframe, latest.keyframe_at = frame, time.monotonic()
        for asked_at, waiter in latest.waiters:
            if asked_at <= latest.keyframe_at and not waiter.done():
                waiter.set_result(None)
        latest.waiters = [(t, w) for t, w in latest.waiters if not w.done()]

    async def capture(self, role: str, request_keyframe: Callable[[], object],
                      within: float = 3.0) -> StillFrame:
        """A fresh keyframe from `role`'s camera, decoded. `request_keyframe` sends the PLI."""
        latest = self._by_role.setdefault(role, _LatestKeyframe())
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[None] = loop.create_future()
        latest.waiters.append((time.monotonic(), arrived))
        outcome = request_keyframe()
        if asyncio.iscoroutine(outcome):
            await outcome
        with contextlib.suppress(TimeoutError):  # then the latest keyframe kept is the still
            await asyncio.wait_for(arrived, within)
        keyframe = latest.keyframe
        if keyframe is None:
            raise StillUnavailable(f"no video from the {role} to take a still from")
        return await loop.run_in_executor(
            None, decode_latest, [keyframe.to_packet()], keyframe.codec)
