"""A physician suspended or revoked while holding a consult loses it at once: their sockets
are told why and closed, the call ends as aborted (physician unavailable) with a reschedule
request, the guardian sees it, and every step is in the audit log. A physician's socket
events are re-checked against the whitelist one by one, even if the change notification
never reached this node."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import socketio
import sqlalchemy as sa

from server.kernel.models import AuditEntryRow, OutboxEventRow, PhysicianRow

SUSPENDED_TEXT = "白名单资格已暂停 suspended from the whitelist"


async def set_status(api, physician_id: str, status: str) -> None:
    response = await api.client.post(f"/api/physicians/{physician_id}/whitelist-status",
                                     json={"status": status, "reason": "complaint under review"},
                                     headers=api.admin)
    assert response.status == 200, await response.text()


async def audit(api, consult_id: str) -> list[AuditEntryRow]:
    async with api.services.db.reading() as session:
        return list((await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.consult_id == consult_id).order_by(AuditEntryRow.seq))).all())


async def events(api, consult_id: str) -> dict[str, dict]:
    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(OutboxEventRow).where(
            OutboxEventRow.consult_id == consult_id))).all()
    return {r.event_type: r.payload for r in rows}


async def disconnected(peer, within: float) -> None:
    deadline = time.monotonic() + within
    while peer.client.connected:
        assert time.monotonic() < deadline, "the socket is still open"
        await asyncio.sleep(0.05)


async def test_suspended_mid_call_the_physician_is_cut_off_and_the_call_aborted(
        api, call_in_progress, peers):
    booked, physician, guardian = call_in_progress
    consult_id = booked["consult"]["id"]
    physician_id = booked["consult"]["physician"]["id"]

    started = time.monotonic()
    await set_status(api, physician_id, "suspended")
    (told,) = await physician.wait_for("physician_not_whitelisted", within=2)
    await disconnected(physician, within=2 - (time.monotonic() - started))
    (ended,) = await guardian.wait_for("ended", within=2)
    assert time.monotonic() - started < 2

    assert told["code"] == "physician_not_whitelisted"
    assert told["reasons"] == ["suspended"] and told["message"] == SUSPENDED_TEXT
    assert ended["outcome"] == "aborted"
    detail = ended["outcome_detail"]
    assert (detail["reason"], detail["follow_up"]) == ("physician_unavailable", "reschedule")
    assert detail["reason_text"] == SUSPENDED_TEXT
    assert guardian.client.connected, "the guardian stays to read the outcome"

    record = await api.services.consults.record(consult_id)
    assert record.consult.outcome == "aborted"
    assert record.consult.state in ("ended", "archived")  # sealing follows the end
    written = await events(api, consult_id)
    assert written["consult.aborted"]["reason"] == "physician_unavailable"
    assert written["consult.reschedule_requested"]["reason"] == "physician_unavailable"
    assert written["consult.reschedule_requested"]["guardian_phone"] == "13800138000"
    actions = [(e.action, e.actor_role) for e in await audit(api, consult_id)]
    assert ("participant.withdrawn", "physician") in actions
    assert ("consult.ended", "system") in actions

    # The link itself is still genuine, but neither a new socket nor HTTP lets them back in.
    again = await peers(booked["physician_token"], connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.connect()
    response = await api.client.get(f"/api/consults/{consult_id}",
                                    headers=api.bearer(booked["physician_token"]))
    assert response.status == 403
    problem = await response.json()
    assert problem["code"] == "physician_not_whitelisted"
    assert SUSPENDED_TEXT in problem["detail"]


async def test_a_guardian_waiting_for_a_suspended_physician_is_not_left_waiting(
        api, consult_in_waiting_room):
    booked, physician, guardian = consult_in_waiting_room
    consult_id = booked["consult"]["id"]
    await set_status(api, booked["consult"]["physician"]["id"], "revoked")
    states = await guardian.wait_for("consult_state", within=2)
    assert states[-1]["state"] == "cancelled"
    assert "ended" not in guardian.received  # no outcome: the call never started
    await disconnected(physician, within=2)
    written = await events(api, consult_id)
    assert written["consult.reschedule_requested"]["state"] == "cancelled"
    assert "白名单资格已撤销" in written["consult.reschedule_requested"]["reason_text"]
    cancelled = [e for e in await audit(api, consult_id) if e.action == "consult.cancelled"]
    assert json.loads(cancelled[0].details)["reason"] == "physician_unavailable"


async def test_each_event_of_a_physician_is_checked_even_if_the_change_went_unheard(
        api, call_in_progress):
    """The status is changed behind the registry's back (as if this node missed the
    notification); once the node's cached standing is gone, the next event is refused."""
    booked, physician, guardian = call_in_progress
    consult_id = booked["consult"]["id"]
    assert (await physician.call("chat", {"text": "还好吗", "client_id": "m1"}))["ok"]
    async with api.services.db.transaction() as session:
        row = await session.get_one(PhysicianRow, booked["consult"]["physician"]["id"])
        row.whitelist_status = "suspended"
    api.services.standing.forget_all()  # what the cache's age limit does at the latest

    refused = await physician.call("chat", {"text": "请把手臂靠近镜头", "client_id": "m2"})
    assert refused["ok"] is False
    assert refused["error"]["code"] == "physician_not_whitelisted"
    assert SUSPENDED_TEXT in refused["error"]["message"]
    await physician.wait_for("physician_not_whitelisted", within=2)
    await disconnected(physician, within=2)
    transcript = await api.services.chat.transcript(consult_id)
    assert [m["text"] for m in transcript] == ["还好吗"]
    entries = await audit(api, consult_id)
    refusal = [json.loads(e.details) for e in entries if e.action == "signal.refused"]
    assert refusal and refusal[-1]["code"] == "physician_not_whitelisted"
    # The guardian's events are not the physician's: they go on.
    assert (await guardian.call("presence", {"quality": "good"}))["ok"]


async def test_a_reinstated_physician_acts_again_at_once(api, consult_in_waiting_room):
    booked, _physician, _guardian = consult_in_waiting_room
    physician_id = booked["consult"]["physician"]["id"]
    url = f"/api/consults/{booked['consult']['id']}"
    headers = api.bearer(booked["physician_token"])
    assert (await api.client.get(url, headers=headers)).status == 200  # now cached
    await set_status(api, physician_id, "suspended")
    assert (await api.client.get(url, headers=headers)).status == 403
    await set_status(api, physician_id, "active")
    assert (await api.client.get(url, headers=headers)).status == 200


async def test_a_live_layer_that_fails_neither_fails_the_suspension_nor_keeps_the_call_open(
        api, call_in_progress):
    """The status change is committed before anyone is told: a failure telling the live
    layer is logged, the answer is still 200, and the call is still closed."""
    booked, _physician, _guardian = call_in_progress

    class BrokenLive:
        async def physician_changed(self, change):
            raise RuntimeError("the live layer is down")

        async def consult_ended(self, ended):
            raise RuntimeError("the live layer is down")

    api.services.live.plug(BrokenLive())
    await set_status(api, booked["consult"]["physician"]["id"], "suspended")
    record = await api.services.consults.record(booked["consult"]["id"])
    assert (record.consult.state, record.consult.outcome) == ("ended", "aborted")
