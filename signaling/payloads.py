"""The payload of every client→server event (docs/protocol.md), validated strictly.

Whatever a payload carries into the audit log is bounded here, at the schema: strings have a
maximum length and objects a maximum number of short keys, so no event can make a permanent
entry larger than a few kilobytes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from server.kernel.validation import StrictModel

MAX_SDP_CHARS = 64 * 1024
MAX_PRESENCE_DETAIL_KEYS = 16


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


PresenceKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]
PresenceText = Annotated[str, StringConstraints(max_length=64)]


class Presence(StrictModel):
    quality: Literal["good", "fair", "poor"]
    # Connection figures for the auditor (rtt, loss, network type): a few short values.
    detail: Annotated[dict[PresenceKey, float | int | PresenceText | None],
                      Field(max_length=MAX_PRESENCE_DETAIL_KEYS)] | None = None


class CaptureRequest(StrictModel):
    body_site: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{1,39}$")]
    laterality: Literal["left", "right", "midline", "bilateral"] | None = None
    view: Literal["overview", "close_up"] = "close_up"
    retake_of: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
