"""The small interface through which signaling drives a consult's media on this node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class MediaPort(Protocol):
    async def answer(self, role: str, offer_sdp: str) -> str: ...

    async def add_ice_candidate(self, role: str, candidate: dict[str, Any] | None) -> None: ...

    async def drop(self, role: str) -> None: ...

    async def request_keyframe(self, role: str) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


MediaFactory = Callable[[str], MediaPort]
