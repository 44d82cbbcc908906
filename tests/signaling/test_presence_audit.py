"""Presence cannot grow the audit log (issue 24, finding 2: `presence.detail` had no size limit
and was copied into a permanent entry on every quality change — 147 events, 29.7 MB in 10 s)."""

import json

import sqlalchemy as sa

from server.kernel import audit_log
from server.kernel.audit_log import MAX_DETAILS_CHARS, Actor
from server.kernel.models import AuditEntryRow


async def _audit_bytes(api) -> int:
    async with api.services.db.reading() as session:
        return (await session.scalar(sa.select(sa.func.sum(
            sa.func.length(AuditEntryRow.details))))) or 0


async def _quality_entries(api) -> list[AuditEntryRow]:
    async with api.services.db.reading() as session:
        return list((await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "participant.quality").order_by(AuditEntryRow.seq))).all())


async def test_an_oversized_presence_detail_is_refused_and_never_stored(
        api, consult_in_waiting_room):
    _booked, _physician, guardian = consult_in_waiting_room
    before = await _audit_bytes(api)
    oversized = [
        {"quality": "poor", "detail": {"rtt": "x" * 100_000}},
        {"quality": "fair", "detail": {f"k{i}": i for i in range(5_000)}},
        {"quality": "poor", "detail": {"k" * 5_000: 1}},
    ]
    for payload in oversized:
        ack = await guardian.call("presence", payload)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload", ack
    assert await _quality_entries(api) == []
    assert await _audit_bytes(api) - before < 8_000, "three refusals, not three copies"
    ack = await guardian.call("presence", {"quality": "poor",
                                           "detail": {"rtt_ms": 420, "loss": 0.12,
                                                      "network": "4g"}})
    assert ack["ok"], ack


async def test_a_flapping_quality_is_coalesced_and_every_change_is_counted(
        api, consult_in_waiting_room):
    _booked, physician, guardian = consult_in_waiting_room
    qualities = ["poor", "good"] * 15
    for quality in qualities:
        assert (await guardian.call("presence", {"quality": quality,
                                                 "detail": {"rtt_ms": 300}}))["ok"]
    seen = [p["quality"] for p in physician.received["presence"] if p["role"] == "guardian"]
    assert seen[-len(qualities):] == qualities, "the other side still sees every change"
    written = await _quality_entries(api)
    assert 1 <= len(written) <= 2, [e.details for e in written]
    assert (await guardian.call("leave"))["ok"]
    written = await _quality_entries(api)
    assert len(written) <= 3
    details = [json.loads(e.details) for e in written]
    assert sum(d["changes"] for d in details) == len(qualities)
    assert details[-1]["quality"] == qualities[-1], "the last quality is on record"


async def test_the_audit_log_caps_what_slips_through_and_the_chain_holds(api):
    huge = {"note": "x" * (4 * MAX_DETAILS_CHARS), "n": 1}
    async with api.services.db.transaction() as session:
        entry = await audit_log.append(session, Actor.system("test"), "test.oversized",
                                       details=huge)
    assert len(entry.details) <= MAX_DETAILS_CHARS
    stored = entry.details_dict()
    assert stored["truncated"] is True and stored["chars"] > 4 * MAX_DETAILS_CHARS
    assert stored["keys"] == ["n", "note"] and len(stored["sha256"]) == 64
    async with api.services.db.reading() as session:
        assert (await audit_log.verify_chain(session)).ok
