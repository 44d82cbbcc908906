"""The audit log as stored: appending, reading one consult's slice, verifying up to the head.

Run against SQLite and PostgreSQL (the `database_url` fixture), without the HTTP app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from server.kernel import audit_log
from server.kernel.audit_log import GENESIS_HASH, Actor, ChainVerdict, entry_hash
from server.kernel.db import Database
from server.kernel.models import AuditEntryRow, AuditHeadRow

ALICE = Actor("admin", "alice")
CONSULT_A = "0a0a0a0a-0000-4000-8000-00000000000a"
CONSULT_B = "0b0b0b0b-0000-4000-8000-00000000000b"
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.close()


async def append(db: Database, action: str, consult_id: str | None = None,
                 **kwargs: object) -> audit_log.AuditEntry:
    async with db.transaction() as session:
        return await audit_log.append(session, ALICE, action, consult_id=consult_id,
                                      **kwargs)


async def entries(db: Database, **kwargs: object) -> list[audit_log.AuditEntry]:
    async with db.reading() as session:
        return [e async for e in audit_log.iter_entries(session, **kwargs)]


async def test_an_appended_entry_holds_what_was_given_and_links_to_the_one_before(db):
    first = await append(db, "consult.booked", CONSULT_A, details={"名": "李小宝", "n": 1},
                         at=datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=8))))
    second = await append(db, "system.started")
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert first.at == "2026-11-20T02:00:00.000000+00:00"
    assert (first.actor_role, first.actor_id, first.action, first.consult_id) == (
        "admin", "alice", "consult.booked", CONSULT_A)
    assert first.details == '{"n":1,"名":"李小宝"}' and first.details_dict() == {
        "n": 1, "名": "李小宝"}
    assert first.hash == entry_hash(seq=1, at=first.at, actor_role="admin", actor_id="alice",
                                    action="consult.booked", consult_id=CONSULT_A,
                                    details=first.details, prev_hash=GENESIS_HASH)
    assert (second.seq, second.prev_hash, second.consult_id, second.details) == (
        2, first.hash, None, "{}")
    assert await entries(db) == [first, second]
    async with db.reading() as session:
        head = (await session.execute(sa.select(AuditHeadRow.last_seq, AuditHeadRow.last_hash)
                                      )).one()
        assert tuple(head) == (2, second.hash)
        assert (await audit_log.verify_chain(session)) == ChainVerdict(True, 2)




async def test_stamps_are_utc_with_microseconds_whatever_the_hosts_zone(db, server_in_beijing):
    given = await append(db, "a", at=datetime(2026, 11, 20, 2, 0, 0, 5, tzinfo=UTC))
    assert given.at == "2026-11-20T02:00:00.000005+00:00"
    before = datetime.now(UTC)
    now = await append(db, "b")
    stamped = datetime.fromisoformat(now.at)
    assert now.at.endswith("+00:00") and before <= stamped <= datetime.now(UTC)


async def test_one_consults_slice_holds_only_its_own_entries_in_chain_order(db):
    for action, consult in [("booked", CONSULT_A), ("booked", CONSULT_B), ("login", None),
                            ("joined", CONSULT_A), ("joined", CONSULT_B), ("ended", CONSULT_A)]:
        await append(db, action, consult)
    a = await entries(db, consult_id=CONSULT_A)
    b = await entries(db, consult_id=CONSULT_B)
    assert [(e.seq, e.action) for e in a] == [(1, "booked"), (4, "joined"), (6, "ended")]
    assert [(e.seq, e.action) for e in b] == [(2, "booked"), (5, "joined")]
    assert {e.consult_id for e in a} == {CONSULT_A} and {e.consult_id for e in b} == {CONSULT_B}
    assert [e.seq for e in await entries(db)] == [1, 2, 3, 4, 5, 6]


async def test_reading_in_small_batches_and_up_to_a_sequence_number(db):
    for n in range(7):
        await append(db, f"n{n}", CONSULT_A if n % 2 else None)
    assert [e.seq for e in await entries(db, batch=2)] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.seq for e in await entries(db, batch=2, up_to=5)] == [1, 2, 3, 4, 5]
    assert [e.seq for e in await entries(db, consult_id=CONSULT_A, batch=1, up_to=5)] == [2, 4]
    # An updated row moves to the end of a PostgreSQL table: chain order must not follow it.
    async with db.transaction() as session:
        await session.execute(sa.update(AuditEntryRow).where(AuditEntryRow.seq == 1)
                              .values(actor_id="edited"))
    assert [e.seq for e in await entries(db)] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.seq for e in await entries(db, batch=3)] == [1, 2, 3, 4, 5, 6, 7]


async def test_verification_stops_at_the_head_it_read_first(db):
    """An entry another node commits after the head was read is left for the next check."""
    last = await append(db, "a")
    async with db.transaction() as session:
        later = dict(seq=2, at=T0.isoformat(), actor_role="system", actor_id="node-2",
                     action="b", consult_id=None, details="{}", prev_hash=last.hash)
        session.add(AuditEntryRow(**later, hash=entry_hash(**later)))  # head not moved
    async with db.reading() as session:
        assert await audit_log.verify_chain(session) == ChainVerdict(True, 1)


async def test_a_missing_head_row_fails_verification(db):
    last = await append(db, "a")
    async with db.transaction() as session:
        await session.execute(sa.delete(AuditHeadRow))
    try:
        async with db.reading() as session:
            assert await audit_log.verify_chain(session) == ChainVerdict(
                False, 0, 1, "the audit chain head row is missing")
    finally:  # the PostgreSQL database is shared by the session's tests: put the head back
        async with db.transaction() as session:
            session.add(AuditHeadRow(id=audit_log.HEAD_ROW_ID, last_seq=last.seq,
                                     last_hash=last.hash))


async def test_an_edited_stored_entry_fails_verification_at_its_sequence_number(db):
    for action in ("a", "b", "c"):
        await append(db, action)
    async with db.transaction() as session:
        await session.execute(sa.update(AuditEntryRow).where(AuditEntryRow.seq == 2)
                              .values(actor_id="mallory"))
    async with db.reading() as session:
        verdict = await audit_log.verify_chain(session)
    assert (verdict.ok, verdict.entries_checked, verdict.first_broken_seq) == (False, 1, 2)
