"""What the domain tells the live layer (the Socket.IO namespace of this node) when
something happens that the people in the call must see at once.

The domain services hold a `LiveRelay`; `signaling` implements `LiveNotifier`; the
composition root (`server.app`) plugs one into the other. So an HTTP handler that ends a
consult or stores a photo never reaches for the namespace, and the domain never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from server.clinical.consult_lifecycle import ConsultState


@dataclass(frozen=True)
class ConsultSnapshot:
    """A consult as the live layer sees it after a change: plain values, no database rows."""

    id: str
    state: ConsultState
    outcome: str | None
    outcome_detail: dict[str, Any] | None
    guardian_name: str
    guardian_relationship: str
    updated_at: datetime
    guardian_confirmed_at: datetime | None
    # What a participant's browser is shown of the consult (no staff-only fields).
    participant_view: dict[str, Any]


@dataclass(frozen=True)
class PhysicianChange:
    """A physician's whitelist status or credentials changed. Every node forgets what it
    knew of their standing; when `withdrawn` (suspended, revoked, or — once staff accounts
    exist — disabled), their sockets are told why and disconnected."""

    physician_id: str
    withdrawn: bool
    reasons: tuple[str, ...] = ()  # Ineligibility codes
    message: str = ""  # the reasons in words, Chinese first


class LiveNotifier(Protocol):
    async def consult_ended(self, ended: ConsultSnapshot) -> None:
        """Everyone in the call sees the outcome (or that it was cancelled); the media for it
        stops on the node that holds it."""

    async def photo_captured(self, consult_id: str, photo: dict[str, Any]) -> None:
        """A photo is stored: the physician's gallery and the guardian's screen show it."""

    async def physician_changed(self, change: PhysicianChange) -> None:
        """On every node: forget the physician's standing; if withdrawn, disconnect them."""


class LiveRelay:
    """The live layer is built after the domain services it is told by (it needs them), so
    the services hold this relay and the composition root plugs the live layer in. Until
    then — and for good in the CLI, which runs no live layer — there is nobody in a call on
    this process to tell, and a notification goes nowhere."""

    def __init__(self) -> None:
        self._target: LiveNotifier | None = None

    def plug(self, target: LiveNotifier) -> None:
        self._target = target

    async def consult_ended(self, ended: ConsultSnapshot) -> None:
        if self._target is not None:
            await self._target.consult_ended(ended)

    async def photo_captured(self, consult_id: str, photo: dict[str, Any]) -> None:
        if self._target is not None:
            await self._target.photo_captured(consult_id, photo)

    async def physician_changed(self, change: PhysicianChange) -> None:
        if self._target is not None:
            await self._target.physician_changed(change)
