"""The Redis Stream: a real XREAD on the machine's Redis sees the referral, once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from server.events.event_stream import EventStreamPublisher
from server.events.webhooks import OutboundEvent

from .conftest import (
    REFERRED,
    book,
    bring_into_call,
    end_through_api,
    eventually,
    make_physician,
    outbox_rows,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def stream_key():
    key = f"shouzhen:test:{uuid.uuid4().hex}"  # one stream per test run: no interference
    yield key
    client = aioredis.from_url(REDIS_URL)
    await client.delete(key, *[k async for k in client.scan_iter(f"{key}:seen:*")])
    await client.aclose()


# REDIS_URL means several nodes, which need the shared PostgreSQL (server/cluster/node_cluster.py).
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_stream_reader_sees_the_referral_with_its_event_id(nodes, receiver, stream_key):
    node = await nodes(redis_url=REDIS_URL, event_stream_key=stream_key)
    physician = await make_physician(node)
    booked = await book(node, physician["id"])
    await bring_into_call(node, booked)
    ended = await end_through_api(node, booked, REFERRED)

    reader = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        async def two_entries():
            found = await reader.xread({stream_key: "0-0"}, count=10, block=200)
            return found[0][1] if found and len(found[0][1]) == 2 else None
        entries = await eventually(two_entries)
    finally:
        await reader.aclose()
    outbox = await outbox_rows(node.services.db)
    assert [fields["id"] for _, fields in entries] == [r.event_id for r in outbox]
    referral = entries[1][1]
    assert referral["type"] == "referral.created" and referral["consult_id"] == booked["id"]
    data = json.loads(referral["data"])
    assert data["reference_number"] == ended["outcome_detail"]["referral_reference"]
    assert data["referral"]["department"] == "paediatric_dermatology"
    await receiver.wait_for(2)  # the webhook got them too: two targets, one outbox


async def test_publishing_an_event_twice_adds_it_to_the_stream_once(stream_key):
    publisher = EventStreamPublisher(REDIS_URL, stream_key, timeout=2)
    event = OutboundEvent(uuid.uuid4().hex, "referral.created", "c-1",
                          datetime(2026, 11, 20, tzinfo=UTC), {"reference_number": "ZZ"})
    try:
        first = await publisher.publish(event)
        again = await publisher.publish(event)  # a crash between XADD and the DB commit
        assert (first.duplicate, again.duplicate) == (False, True)
        assert again.entry_id == first.entry_id
        assert await publisher.redis.xlen(stream_key) == 1
    finally:
        await publisher.close()
