"""Outcomes reach a real webhook receiver: once each, in order per consult, signed — also
when the receiver was down or answering 503 for a while and the node restarted meanwhile."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from server.kernel import audit_log
from server.kernel.models import AuditEntryRow, OutcomeRow

from .conftest import (
    ABORTED,
    COMPLETED,
    REFERRED,
    assert_in_consult_order,
    book,
    bring_into_call,
    delivery_rows,
    end_through_api,
    eventually,
    make_physician,
    outbox_rows,
)

EXPECTED_TYPES = {
    "completed": ["consult.ended", "prescription.handoff"],
    "referred": ["consult.ended", "referral.created"],
    "aborted": ["consult.ended", "referral.created", "consult.aborted"],
}


async def audit_actions(api, action_prefix: str) -> list[AuditEntryRow]:
    async with api.services.db.reading() as session:
        return list((await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action.like(f"{action_prefix}%")).order_by(AuditEntryRow.seq))).all())


async def chain_ok(api) -> bool:
    async with api.services.db.reading() as session:
        return (await audit_log.verify_chain(session)).ok


async def test_each_outcome_is_recorded_audited_written_out_and_delivered_once_in_order(
        api, receiver):
    physician = await make_physician(api)
    ended = {}
    for body in (COMPLETED, REFERRED, ABORTED):
        booked = await book(api, physician["id"])
        await bring_into_call(api, booked)
        view = await end_through_api(api, booked, body)
        assert view["state"] == "ended" and view["outcome"] == body["outcome"]
        ended[booked["id"]] = body["outcome"]

    outbox = await outbox_rows(api.services.db)
    assert len(outbox) == 7
    received = await receiver.wait_for(7)
    assert receiver.bad_signatures == 0
    assert sorted(receiver.ids()) == sorted(r.event_id for r in outbox)  # each exactly once
    assert_in_consult_order(received, outbox)

    async with api.services.db.reading() as session:
        for consult_id, outcome in ended.items():
            row = await session.get_one(OutcomeRow, consult_id)
            assert row.outcome == outcome
            types = [r.event_type for r in outbox if r.consult_id == consult_id]
            assert types == EXPECTED_TYPES[outcome]
            ended_entries = (await session.scalars(sa.select(AuditEntryRow).where(
                AuditEntryRow.consult_id == consult_id,
                AuditEntryRow.action == "consult.ended"))).all()
            assert [e.details_dict()["outcome"] for e in
                    map(audit_log._entry_from_row, ended_entries)] == [outcome]
    referral = next(e for e in received if e["type"] == "referral.created")
    async with api.services.db.reading() as session:
        row = await session.get_one(OutcomeRow, referral["consult_id"])
    assert referral["data"]["reference_number"] == row.referral_reference
    deliveries = await eventually(lambda: _all_delivered(api))
    assert {(d.target, d.status, d.attempts) for d in deliveries} == {("his", "delivered", 1)}
    assert await chain_ok(api)


async def _all_delivered(api):
    rows = await delivery_rows(api.services.db)
    return rows if rows and all(r.status == "delivered" for r in rows) else None


async def test_a_receiver_down_then_503_then_up_gets_every_event_once_in_order_across_a_restart(
        receiver, nodes, settings):
    await receiver.go_down()  # the port refuses connections
    first = await nodes()
    physician = await make_physician(first)
    consults = []
    for body in (REFERRED, ABORTED):
        booked = await book(first, physician["id"])
        await bring_into_call(first, booked)
        await end_through_api(first, booked, body)
        consults.append(booked["id"])

    async def failing_repeatedly():
        rows = await delivery_rows(first.services.db)
        tried = [r for r in rows if r.attempts]
        return len(rows) == 5 and len(tried) == 2 and all(r.status == "retrying" and
                                                          r.attempts >= 2 for r in tried)
    await eventually(failing_repeatedly)
    refused = await delivery_rows(first.services.db)
    head = min(refused, key=lambda r: r.outbox_id)
    assert "Connect" in (head.last_error or ""), head.last_error
    # Order: only the first event of each consult has been tried; the rest wait behind it.
    assert sorted(r.attempts > 0 for r in refused) == [False, False, False, True, True]

    await receiver.come_up("503")
    await eventually(lambda: _last_status(first, 503))

    await first.client.close()  # the node stops (dispatcher included) while nothing got out
    assert receiver.received == []
    await receiver.come_up("up")
    second = await nodes()  # a new node on the same database carries on
    received = await receiver.wait_for(5)
    outbox = await outbox_rows(second.services.db)
    assert sorted(receiver.ids()) == sorted(r.event_id for r in outbox)
    assert_in_consult_order(received, outbox)
    assert receiver.bad_signatures == 0
    rows = await eventually(lambda: _all_delivered(second))
    assert all(r.attempts >= 2 for r in rows if r.outbox_id in {
        min(o.id for o in outbox if o.consult_id == c) for c in consults})
    # The first failure and the recovery of each delivery are in the audit chain, once.
    failing = await audit_actions(second, "event.delivery_failing")
    recovered = await audit_actions(second, "event.delivery_recovered")
    assert {e.consult_id for e in failing} == set(consults)
    assert len(failing) == len(recovered) == len({e.details for e in failing})
    assert await chain_ok(second)
    assert max(receiver.requests.values()) >= 2  # the 503s reached it before the restart


async def _last_status(api, status):
    rows = await delivery_rows(api.services.db)
    return any(r.last_status_code == status for r in rows)


async def test_a_4xx_answer_keeps_the_event_at_the_capped_schedule_until_an_admin_retries(
        nodes, receiver):
    receiver.set_mode("400")
    # A cap of a minute: within the test only the admin's retry can get the event out.
    api = await nodes(event_retry_cap_seconds=60)
    physician = await make_physician(api)
    booked = await book(api, physician["id"])
    await bring_into_call(api, booked)
    await end_through_api(api, booked, REFERRED)

    async def refused():
        rows = await delivery_rows(api.services.db)
        return rows if rows and rows[0].last_status_code == 400 else None
    (head, _second) = await eventually(refused)
    assert head.status == "retrying"
    cap = api.services.settings.event_retry_cap_seconds
    assert timedelta(seconds=cap / 2) <= head.next_attempt_at - head.last_attempt_at <= \
        timedelta(seconds=cap)
    assert "receiver says 400" in head.last_error

    receiver.set_mode("up")
    events = await (await api.client.get(f"/api/events?consult_id={booked['id']}",
                                         headers=api.admin)).json()
    later = events["events"][0]  # newest first: referral.created waits behind consult.ended
    assert later["type"] == "referral.created"
    retried = await api.client.post(f"/api/events/{later['event_id']}/retry", headers=api.admin)
    assert retried.status == 200, await retried.text()
    assert (await retried.json())["made_due"] == [{"target": "his", "deliveries": 2}]
    await receiver.wait_for(2)
    assert [e["type"] for e in receiver.received] == ["consult.ended", "referral.created"]
    (entry,) = await audit_actions(api, "event.retry_requested")
    assert entry.actor_role == "admin" and entry.consult_id == booked["id"]


async def test_a_receiver_that_hangs_is_given_up_on_after_the_timeout_and_retried(
        api, receiver):
    receiver.set_mode("hang")
    physician = await make_physician(api)
    booked = await book(api, physician["id"])
    await bring_into_call(api, booked)
    await end_through_api(api, booked, COMPLETED)

    async def timed_out_twice():
        rows = await delivery_rows(api.services.db)
        return rows if rows and rows[0].attempts >= 2 else None
    (head, waiting) = await eventually(timed_out_twice, within=5)
    assert "timed out" in head.last_error and head.last_status_code is None
    assert waiting.attempts == 0  # the prescription hand-off waits behind consult.ended
    receiver.set_mode("up")
    received = await receiver.wait_for(2)
    assert [e["type"] for e in received] == ["consult.ended", "prescription.handoff"]
    assert sorted(receiver.ids()) == sorted(set(receiver.ids()))


async def test_an_event_undelivered_past_the_threshold_is_flagged_and_audited_once(
        receiver, nodes):
    # The fixed test clock wrote the events two days before the wall clock: a threshold of
    # one hour makes them overdue at once.
    await receiver.go_down()
    node = await nodes(event_alert_after_hours=1.0)
    physician = await make_physician(node)
    booked = await book(node, physician["id"])
    await bring_into_call(node, booked)
    await end_through_api(node, booked, REFERRED)

    async def flagged():
        rows = await delivery_rows(node.services.db)
        return len(rows) == 2 and all(r.alerted_at for r in rows) and rows[0].attempts > 0
    await eventually(flagged)
    listed = await (await node.client.get("/api/events", headers=node.admin)).json()
    assert [e["overdue"] for e in listed["events"]] == [True, True]
    targets = await (await node.client.get("/api/event-targets", headers=node.admin)).json()
    assert targets["targets"][0] | {"oldest_undelivered_at": None} == {
        "target": "his", "configured": True, "pending": 1, "retrying": 1, "delivered": 0,
        "overdue": 2, "oldest_undelivered_at": None}
    metrics = await (await node.client.get("/metrics", headers=node.admin)).text()
    assert "shouzhen_event_deliveries_overdue 2.0" in metrics
    overdue = await audit_actions(node, "event.delivery_overdue")
    assert len(overdue) == 2 and {e.consult_id for e in overdue} == {booked["id"]}

    await receiver.come_up()
    await receiver.wait_for(2)
    await eventually(lambda: _all_delivered(node))
    listed = await (await node.client.get("/api/events", headers=node.admin)).json()
    assert [e["overdue"] for e in listed["events"]] == [False, False]
    assert len(await audit_actions(node, "event.delivery_overdue")) == 2  # never twice
