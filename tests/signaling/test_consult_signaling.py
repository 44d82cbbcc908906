"""The /consult namespace as docs/protocol.md describes it, through real Socket.IO clients."""

import asyncio

import pytest
import socketio
import sqlalchemy as sa

from server.kernel.models import AuditEntryRow, ChatMessageRow


async def audit(api, action):
    async with api.services.db.reading() as session:
        return (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == action).order_by(AuditEntryRow.seq))).all()


async def test_connecting_needs_a_valid_join_token(api, peers):
    for token in ("", "not-a-token", "a.b.c"):
        peer = await peers(token, connect=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await peer.connect()


async def test_a_suspended_physician_cannot_enter_and_the_refusal_is_audited(
        api, booked_consult, peers):
    booked = await booked_consult()
    physician_id = booked["consult"]["physician"]["id"]
    await api.client.post(f"/api/physicians/{physician_id}/whitelist-status",
                          json={"status": "suspended", "reason": "review"}, headers=api.admin)
    peer = await peers(booked["physician_token"], connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await peer.connect()
    refused = await audit(api, "access.refused")
    assert refused and '"code":"physician_not_whitelisted"' in refused[-1].details


async def test_the_guardian_must_accept_the_recording_notice_first(api, booked_consult, peers):
    booked = await booked_consult()
    guardian = await peers(booked["guardian_token"])
    ack = await guardian.call("join")
    assert ack == {"ok": False, "error": {"code": "recording_notice_required",
                                          "message": ack["error"]["message"]}}


async def test_waiting_room_then_admission(api, consult_in_waiting_room):
    booked, physician, guardian = consult_in_waiting_room
    waiting = await physician.wait_for("waiting")
    assert waiting[0]["guardian"]["relationship"] == "mother"
    refused = await guardian.call("admit")
    assert refused["error"]["code"] == "forbidden"
    admitted = await physician.call("admit")
    assert admitted == {"ok": True, "state": "in_call"}
    await guardian.wait_for("admitted")
    consult = await api.services.consults.record(booked["consult"]["id"])
    assert consult.consult.state == "in_call"
    assert [e.action for e in await audit(api, "consult.admitted")] == ["consult.admitted"]


async def test_ending_needs_confirmed_guardian_presence(api, consult_in_waiting_room):
    _booked, physician, guardian = consult_in_waiting_room
    await physician.call("admit")
    completed = {"outcome": "completed", "diagnosis": "婴儿湿疹 infantile eczema",
                 "icd10": "L20.8"}
    early = await physician.call("end", completed)
    assert early["error"]["code"] == "guardian_presence_required"
    assert (await guardian.call("confirm_guardian_present"))["error"]["code"] == "forbidden"
    confirmed = await physician.call("confirm_guardian_present")
    assert confirmed["ok"]
    await guardian.wait_for("guardian_confirmed")
    ended = await physician.call("end", completed)
    assert ended["ok"] and (ended["state"], ended["outcome"]) == ("ended", "completed")
    seen = (await guardian.wait_for("ended"))[0]
    assert seen["outcome_detail"]["diagnosis"] == "婴儿湿疹 infantile eczema"
    again = await physician.call("end", completed)
    assert again["ok"] is False


async def test_chat_is_stored_before_the_ack_and_resends_are_not_duplicated(
        api, consult_in_waiting_room):
    _booked, physician, guardian = consult_in_waiting_room
    ack = await guardian.call("chat", {"text": "孩子脸上起了红疹", "client_id": "m-1"})
    assert ack["ok"] and ack["message"]["seq"] == 1
    async with api.services.db.reading() as session:
        stored = (await session.scalars(sa.select(ChatMessageRow))).all()
    assert [m.text for m in stored] == ["孩子脸上起了红疹"]
    (received,) = await physician.wait_for("chat")
    assert received["from_role"] == "guardian" and received["text"] == "孩子脸上起了红疹"
    resend = await guardian.call("chat", {"text": "孩子脸上起了红疹", "client_id": "m-1"})
    assert resend["message"]["id"] == ack["message"]["id"]
    assert len(await audit(api, "chat.message")) == 1


@pytest.mark.parametrize(("event", "payload", "code"), [
    ("chat", "just a string", "invalid_payload"),
    ("chat", {"text": "", "client_id": "x"}, "invalid_payload"),
    ("chat", {"text": "x" * 2001, "client_id": "x"}, "invalid_payload"),
    ("chat", {"text": "hi", "client_id": "x", "extra": 1}, "invalid_payload"),
    ("offer", {"sdp": "v=0 garbage", "type": "offer"}, "transition_not_allowed"),
    ("ice_candidate", {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host",
                       "sdpMid": "0", "sdpMLineIndex": 0}, "no_offer_yet"),
    ("presence", {"quality": "excellent"}, "invalid_payload"),
    ("end", {"outcome": "completed"}, "forbidden"),
])
async def test_bad_events_get_error_acks_and_the_consult_carries_on(
        api, consult_in_waiting_room, event, payload, code):
    _booked, physician, guardian = consult_in_waiting_room
    ack = await guardian.call(event, payload)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    refusal = (await audit(api, "signal.refused"))[-1]
    assert refusal.actor_role == "guardian" and f'"event":"{event}"' in refusal.details
    assert (await guardian.call("chat", {"text": "still here", "client_id": "ok-1"}))["ok"]
    assert (await physician.wait_for("chat"))[-1]["text"] == "still here"


async def test_malformed_sdp_during_the_call_is_refused(api, consult_in_waiting_room):
    _booked, physician, guardian = consult_in_waiting_room
    await physician.call("admit")
    ack = await guardian.call("offer", {"sdp": "v=0\r\nthis is not sdp\r\n", "type": "offer"})
    assert ack["error"]["code"] == "invalid_sdp"
    assert (await physician.call("chat", {"text": "ok?", "client_id": "p1"}))["ok"]


async def test_a_flood_is_refused_and_audited_once(api, consult_in_waiting_room):
    _booked, physician, guardian = consult_in_waiting_room
    acks = await asyncio.gather(*(guardian.call("presence", {"quality": "good"})
                                  for _ in range(80)))
    limited = [a for a in acks if not a["ok"] and a["error"]["code"] == "rate_limited"]
    assert len(limited) >= 30
    floods = [e for e in await audit(api, "signal.refused") if "rate_limited" in e.details]
    assert len(floods) == 1
    assert (await physician.call("chat", {"text": "unaffected", "client_id": "p2"}))["ok"]


async def test_a_second_connection_of_the_same_role_replaces_the_first(
        api, consult_in_waiting_room, peers):
    booked, _physician, guardian = consult_in_waiting_room
    newer = await peers(booked["guardian_token"])
    await guardian.wait_for("replaced")
    assert (await newer.call("join"))["ok"]
    await asyncio.sleep(0.2)
    assert not guardian.client.connected


async def test_a_dropped_guardian_has_a_grace_period_then_is_interrupted(
        api, consult_in_waiting_room, peers):
    booked, physician, guardian = consult_in_waiting_room
    await physician.call("admit")
    await guardian.client.eio.disconnect(abort=True)  # the network goes, not a `leave`
    statuses = lambda: [p["status"] for p in physician.received["presence"]  # noqa: E731
                        if p["role"] == "guardian"]
    await physician.wait_for("presence", count=len(physician.received["presence"]) + 1)
    assert "reconnecting" in statuses()
    back = await peers(booked["guardian_token"])
    assert (await back.call("join"))["ok"]
    await asyncio.sleep(0.3)
    assert "back" in statuses()

    await back.client.eio.disconnect(abort=True)
    await asyncio.sleep(api.services.settings.reconnect_grace_seconds + 1)
    assert statuses()[-1] == "interrupted"
    assert len(await audit(api, "participant.interrupted")) == 1
