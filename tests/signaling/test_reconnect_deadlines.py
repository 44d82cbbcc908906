"""Reconnect deadlines: a dropped participant's grace period is written to the database when
it starts and cleared when they return; a node that lost its memory (a restart) resumes them,
a past one at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from server.app.live import NAMESPACE_KEY
from server.clinical.reconnect_deadlines import OpenCall, resumed_deadlines
from server.kernel.models import AuditEntryRow

from ..conftest import FIXED_NOW

GRACE = timedelta(seconds=30)


def test_a_resumed_call_keeps_its_deadlines_and_gives_the_unknown_a_full_grace_period():
    earlier = FIXED_NOW - timedelta(seconds=5)
    call = OpenCall("c1", "p1", {"guardian": earlier})
    resumed = {d.role: d for d in resumed_deadlines(call, FIXED_NOW, GRACE)}
    assert resumed["guardian"].deadline_at == earlier  # already past: fires at once
    assert resumed["physician"].deadline_at == FIXED_NOW + GRACE
    # Who each one is, as their join token said: the audit entries name them.
    assert (resumed["physician"].subject, resumed["guardian"].subject) == ("p1", "c1")


async def deadlines_of(api, consult_id: str) -> dict[str, object]:
    calls = await api.services.consults.reconnect_deadlines.open_calls()
    return next(call.deadlines for call in calls if call.consult_id == consult_id)


async def wait_until(condition, within: float) -> None:
    for _ in range(int(within / 0.1)):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not within the time given")


async def test_a_drop_writes_its_deadline_and_a_return_clears_it(api, call_in_progress, peers):
    booked, _physician, guardian = call_in_progress
    consult_id = booked["consult"]["id"]
    assert await deadlines_of(api, consult_id) == {}
    await guardian.client.eio.disconnect(abort=True)
    grace = timedelta(seconds=api.services.settings.reconnect_grace_seconds)

    async def written() -> bool:
        return await deadlines_of(api, consult_id) == {"guardian": FIXED_NOW + grace}

    await wait_until(written, 1)
    back = await peers(booked["guardian_token"])
    assert (await back.call("join"))["ok"]
    assert await deadlines_of(api, consult_id) == {}


async def test_a_node_that_lost_its_timers_resumes_them_and_a_past_deadline_fires_at_once(
        api, call_in_progress):
    booked, physician, guardian = call_in_progress
    consult_id = booked["consult"]["id"]
    namespace = api.client.app[NAMESPACE_KEY]
    store = api.services.consults.reconnect_deadlines
    await guardian.client.eio.disconnect(abort=True)
    await physician.client.eio.disconnect(abort=True)

    async def both_written() -> bool:
        return set(await deadlines_of(api, consult_id)) == {"physician", "guardian"}

    await wait_until(both_written, 1)
    # What a kill -9 does to the node's memory; the database keeps the deadlines.
    live = namespace.live.find(consult_id)
    live.cancel_timers()
    namespace.live.forget(consult_id)
    await store.start(consult_id, "guardian", FIXED_NOW - timedelta(seconds=1))
    assert await namespace.resume_reconnect_deadlines() == 2
    assert await namespace.resume_reconnect_deadlines() == 0  # the sweep starts nothing twice

    async def aborted() -> bool:
        return (await api.services.consults.record(consult_id)).consult.outcome == "aborted"

    # Well inside the 2 s grace period: the guardian's deadline had already passed.
    await wait_until(aborted, 1)
    async with api.services.db.reading() as session:
        interrupted = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.consult_id == consult_id,
            AuditEntryRow.action == "participant.interrupted"))).all()
    assert [(e.actor_role, e.actor_id) for e in interrupted] == [("guardian", consult_id)]
    assert await deadlines_of_ended(api, consult_id) == 0


async def deadlines_of_ended(api, consult_id: str) -> int:
    await api.client.app[NAMESPACE_KEY].wait_for_background()
    calls = await api.services.consults.reconnect_deadlines.open_calls()
    assert consult_id not in {call.consult_id for call in calls}
    async with api.services.db.reading() as session:
        return int(await session.scalar(sa.text(
            "SELECT count(*) FROM reconnect_deadlines WHERE consult_id = :c"), {"c": consult_id}))
