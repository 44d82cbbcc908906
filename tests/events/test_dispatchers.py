"""The dispatcher by itself: two nodes on one PostgreSQL never deliver an event twice, and
a receiver that answers garbage instead of HTTP is retried until it answers properly."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime

import pytest

from server.events.event_delivery import (
    DispatcherConfig,
    EventDispatcher,
    RedisStreamTarget,
    RetryPolicy,
    Verdict,
    WebhookTarget,
    wall_clock,
)
from server.events.outbox import enqueue
from server.events.webhooks import OutboundEvent
from server.kernel.config import WebhookConfig
from server.kernel.db import Database

from .conftest import (
    SECRET,
    Receiver,
    assert_in_consult_order,
    delivery_rows,
    eventually,
    outbox_rows,
)

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def make_dispatcher(db: Database, url: str, node: str, *, batch: int = 3,
                    timeout: float = 1.0) -> EventDispatcher:
    target = WebhookTarget(WebhookConfig(url=url, secret=SECRET, name="his"), timeout=timeout,
                           now=wall_clock)
    return EventDispatcher(db, [target], DispatcherConfig(
        poll_seconds=0.01, batch_size=batch, timeout_seconds=timeout,
        retry=RetryPolicy(0.02, 0.1)), node_id=node)


async def write_events(db: Database, consults: int, per_consult: int) -> None:
    async with db.transaction() as session:
        for n in range(per_consult):
            for c in range(consults):
                await enqueue(session, f"test.step{n}", consult_id=f"consult-{c:02d}",
                              payload={"step": n}, at=NOW)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_dispatchers_on_one_postgresql_deliver_each_event_exactly_once(
        database, database_url):
    receiver = Receiver(delay=0.01)  # slow enough that both nodes have sends in flight
    await receiver.start()
    other_db = Database(database_url)  # the second node: its own engine and connections
    nodes = [make_dispatcher(database, receiver.url, "node-a"),
             make_dispatcher(other_db, receiver.url, "node-b")]
    try:
        await write_events(database, consults=12, per_consult=3)
        for node in nodes:
            await node.start()
        received = await receiver.wait_for(36, within=30)
        await asyncio.sleep(0.2)  # would a duplicate still arrive?
        assert Counter(receiver.ids()).most_common(1)[0][1] == 1
        assert len(receiver.received) == 36 and receiver.bad_signatures == 0
        assert_in_consult_order(received, await outbox_rows(database))
        rows = await delivery_rows(database)
        assert {r.status for r in rows} == {"delivered"} and {r.attempts for r in rows} == {1}
        assert {r.claimed_by for r in rows} == {"node-a", "node-b"}  # both really worked
    finally:
        for node in nodes:
            await node.stop()
        await other_db.close()
        await receiver.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_concurrent_claims_on_postgresql_never_overlap(database, database_url):
    other_db = Database(database_url)
    a = make_dispatcher(database, "http://127.0.0.1:9/", "node-a", batch=7)
    b = make_dispatcher(other_db, "http://127.0.0.1:9/", "node-b", batch=7)
    try:
        await write_events(database, consults=60, per_consult=1)
        await a.fan_out()
        claimed: list[int] = []
        for _ in range(6):
            batches = await asyncio.gather(a.claim(), b.claim(), a.claim(), b.claim())
            claimed += [c.delivery_id for batch in batches for c in batch]
        assert len(claimed) == len(set(claimed)) == 60
    finally:
        await other_db.close()


class GarbageServer:
    """Answers bytes that are not HTTP at all — until told to behave."""

    def __init__(self) -> None:
        self.behave = False
        self.connections = 0
        self.accepted: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            if self.behave:
                event_id = next(line.split(b":", 1)[1].strip().decode()
                                for line in head.split(b"\r\n")
                                if line.lower().startswith(b"x-shouzhen-event-id"))
                self.accepted.append(event_id)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                writer.write(b"\x00\x01 this is not HTTP \xff\r\n\r\n")
            await writer.drain()
        writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_receiver_answering_garbage_is_retried_until_it_answers_properly(database):
    garbage = GarbageServer()
    url = await garbage.start()
    dispatcher = make_dispatcher(database, url, "node-a")
    try:
        await write_events(database, consults=1, per_consult=2)
        await dispatcher.start()

        async def retried():
            rows = await delivery_rows(database)
            return rows if rows and rows[0].attempts >= 2 else None
        head, waiting = await eventually(retried)
        assert head.status == "retrying" and head.last_status_code is None
        assert head.last_error and waiting.attempts == 0
        garbage.behave = True
        await eventually(lambda: _delivered(database, 2))
        outbox = await outbox_rows(database)
        assert garbage.accepted == [r.event_id for r in outbox]
    finally:
        await dispatcher.stop()
        await garbage.close()


async def _delivered(db, count):
    rows = await delivery_rows(db)
    return sum(r.status == "delivered" for r in rows) == count


async def test_a_webhook_target_classifies_refused_connections_as_retry():
    target = WebhookTarget(WebhookConfig(url="http://127.0.0.1:9/none", secret=SECRET),
                           timeout=1.0, now=wall_clock)
    event = OutboundEvent("f" * 32, "test", None, NOW, {})
    try:
        result = await target.deliver(event, 1)
    finally:
        await target.close()
    assert result.verdict is Verdict.RETRY and "Connect" in (result.error or "")


async def test_redis_that_is_down_is_a_retry_not_a_crash():
    target = RedisStreamTarget("redis://127.0.0.1:9/0", "shouzhen:test:none", timeout=0.5)
    event = OutboundEvent("f" * 32, "test", None, NOW, {})
    try:
        result = await target.deliver(event, 1)
    finally:
        await target.close()
    assert result.verdict is Verdict.RETRY and result.error
