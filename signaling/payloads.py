"""The payload of every client→server event (docs/protocol.md), validated strictly."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from server.kernel.validation import StrictModel

MAX_SDP_CHARS = 64 * 1024


class Empty(StrictModel):
    pass


class Offer(StrictModel):
    sdp: Annotated[str, StringConstraints(min_length=10, max_length=MAX_SDP_CHARS,
                                          strip_whitespace=False)]
    type: Literal["offer"]


class IceCandidate(StrictModel):
    candidate: Annotated[str, StringConstraints(max_length=2048)] | None
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdpMLineIndex: int | None = None
    usernameFragment: Annotated[str, StringConstraints(max_length=256)] | None = None


class Chat(StrictModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    client_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Presence(StrictModel):
    quality: Literal["good", "fair", "poor"]
    detail: dict[str, float | int | str | None] | None = None


class CaptureRequest(StrictModel):
    body_site: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{1,39}$")]
    laterality: Literal["left", "right", "midline", "bilateral"] | None = None
    view: Literal["overview", "close_up"] = "close_up"
    retake_of: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
