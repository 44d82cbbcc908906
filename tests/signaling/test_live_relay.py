"""The seam through which the domain tells the live layer what happened: nothing is lost
once the namespace is plugged in, and nothing fails before it is (or in the CLI, which has
no live layer)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.clinical.consult_lifecycle import ConsultState
from server.clinical.live_notifier import ConsultSnapshot, LiveRelay

ENDED = ConsultSnapshot(
    id="c1", state=ConsultState.ENDED, outcome="completed", outcome_detail={"diagnosis": "x"},
    guardian_name="李妈妈", guardian_relationship="mother",
    updated_at=datetime(2026, 11, 20, 3, 0, tzinfo=UTC), guardian_confirmed_at=None,
    participant_view={"id": "c1"})


class HeardLive:
    def __init__(self) -> None:
        self.heard: list[tuple[str, Any]] = []

    async def consult_ended(self, ended: ConsultSnapshot) -> None:
        self.heard.append(("consult_ended", ended))

    async def photo_captured(self, consult_id: str, photo: dict[str, Any]) -> None:
        self.heard.append(("photo_captured", (consult_id, photo)))


async def test_before_a_live_layer_is_plugged_in_notifications_go_nowhere() -> None:
    relay = LiveRelay()
    await relay.consult_ended(ENDED)
    await relay.photo_captured("c1", {"id": "p1"})


async def test_once_plugged_in_the_live_layer_hears_every_notification_as_sent() -> None:
    relay, live = LiveRelay(), HeardLive()
    await relay.photo_captured("c1", {"id": "before"})
    relay.plug(live)
    await relay.consult_ended(ENDED)
    await relay.photo_captured("c1", {"id": "p1"})
    assert live.heard == [("consult_ended", ENDED), ("photo_captured", ("c1", {"id": "p1"}))]
