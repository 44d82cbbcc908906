"""Audit growth bounded by design (issue 24, findings 3 and 6): a flood of refused requests,
socket connects and socket events writes a bounded number of audit entries, every refusal is
still accounted for (the counts add up, per class), nothing counted is lost when the windows
close, and the chain stays intact for `shouzhen audit verify`."""

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import socketio
import sqlalchemy as sa

from server.api.auth import REFUSALS
from server.kernel.models import AuditEntryRow

from ..conftest import Peer

HTTP_FLOOD = 600  # per class below
SOCKET_CONNECTS = 120  # per class below
CHATS = 150


async def _entries(api, after: int = 0) -> list[AuditEntryRow]:
    async with api.services.db.reading() as session:
        return list((await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.seq > after).order_by(AuditEntryRow.seq))).all())


async def _last_seq(api) -> int:
    async with api.services.db.reading() as session:
        return (await session.scalar(sa.select(sa.func.max(AuditEntryRow.seq)))) or 0


async def _in_batches(calls, size: int = 40) -> list:
    results = []
    for start in range(0, len(calls), size):
        results += await asyncio.gather(*(call() for call in calls[start:start + size]))
    return results


async def _refused_connect(url: str, auth) -> str:
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(url, namespaces=["/consult"], auth=auth,
                             transports=["websocket"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return "refused"
    finally:
        await client.disconnect()
    return "connected"


def _reason(entry: AuditEntryRow, details: dict) -> str:
    """The refusal's kind as `target:reason`, whether written at once or counted."""
    if "sample" in details:  # the refusals a window counted after its first
        target = "socket" if details["target"] == "socket connect" else details["target"]
        return f"{target}:{details['reason']}"
    if entry.action == "signal.refused":
        return f"{details['event']}:{details['code']}"
    if details.get("channel") == "socket":
        return f"socket:{details['code']}"
    return f"GET {details['path']}:" + {401: "unauthenticated", 403: "forbidden"}[
        details["status"]]


def _counts(entries: list[AuditEntryRow]) -> Counter:
    """Refusals per (action, actor role, reason): the sum of `count` over the entries."""
    total: Counter = Counter()
    for entry in entries:
        details = json.loads(entry.details)
        total[(entry.action, entry.actor_role, _reason(entry, details))] += details["count"]
    return total


async def test_a_flood_of_refusals_writes_a_bounded_number_of_entries_and_loses_no_count(
        api, booked_consult, settings):
    booked = await booked_consult()
    physician = Peer(str(api.client.make_url("/")), booked["physician_token"])
    await physician.connect()
    before = await _last_seq(api)

    def get(path: str, headers: dict[str, str]):
        async def call() -> int:
            response = await api.client.get(path, headers=headers)
            await response.release()
            return response.status
        return call

    statuses = await _in_batches(
        [get("/api/consults", {}) for _ in range(HTTP_FLOOD)]
        + [get("/api/session", {"Authorization": "Bearer not-a-key-0123456789"})
           for _ in range(HTTP_FLOOD)]
        + [get("/api/replay/consults", api.admin) for _ in range(HTTP_FLOOD)])
    assert Counter(statuses) == {401: 2 * HTTP_FLOOD, 403: HTTP_FLOOD}
    url = str(api.client.make_url("/"))
    connects = await _in_batches(
        [lambda: _refused_connect(url, None) for _ in range(SOCKET_CONNECTS)]
        + [lambda: _refused_connect(url, {"token": "a.b.c"}) for _ in range(SOCKET_CONNECTS)],
        size=20)
    assert set(connects) == {"refused"}
    chats = await asyncio.gather(*(physician.call("chat", {"text": "x", "client_id": f"c{i}"})
                                   for i in range(CHATS)))
    limited = sum(1 for ack in chats if not ack["ok"]
                  and ack["error"]["code"] == "rate_limited")
    assert limited >= CHATS - 20

    made = 3 * HTTP_FLOOD + 2 * SOCKET_CONNECTS + CHATS
    written_at_once = await _entries(api, before)
    # The first refusal of each class is there at once: nothing is hidden while a window is
    # open (one class per reason code for anonymous callers, one for the admin, one for the
    # physician's flood).
    assert 5 <= len([e for e in written_at_once if e.action.endswith(".refused")]) <= 12, [
        (e.action, e.details[:200]) for e in written_at_once]

    await api.client.app[REFUSALS].flush()  # the windows close (as at shutdown)
    entries = [e for e in await _entries(api, before) if e.action.endswith(".refused")]
    assert len(entries) <= 24, "a few entries per class, not one per refusal"
    counts = _counts(entries)
    assert sum(counts.values()) == made, counts
    assert counts[("access.refused", "admin", "GET /api/replay/consults:forbidden")] == (
        HTTP_FLOOD)
    assert counts[("access.refused", "anonymous", "GET /api/consults:unauthenticated")] == (
        HTTP_FLOOD)
    assert counts[("access.refused", "anonymous", "GET /api/session:unauthenticated")] == (
        HTTP_FLOOD)
    assert counts[("signal.refused", "physician", "chat:rate_limited")] == limited
    assert counts[("signal.refused", "physician", "chat:transition_not_allowed")] == (
        CHATS - limited)  # chat is closed before the call: the bucket let these through
    anonymous_socket = sum(n for (action, role, reason), n in counts.items()
                           if role == "anonymous" and reason.startswith("socket:"))
    assert anonymous_socket == 2 * SOCKET_CONNECTS, "refused connects without a token too"

    await physician.close()
    verify = subprocess.run(  # noqa: ASYNC221 - the operator's command, as it is run
        [sys.executable, "-m", "server", "--data-dir", str(settings.data_dir), "audit",
         "verify"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_URL": settings.effective_database_url})
    assert verify.returncode == 0 and "intact" in verify.stdout, verify.stderr


@pytest.mark.parametrize("auth", [None, {}, {"token": ""}, {"token": "not-a-token"},
                                  {"token": "a.b.c"}, {"token": 42}])
async def test_every_refused_socket_connect_is_audited(api, auth):
    before = await _last_seq(api)
    assert await _refused_connect(str(api.client.make_url("/")), auth) == "refused"
    refused = [e for e in await _entries(api, before) if e.action == "access.refused"]
    assert len(refused) == 1 and '"channel":"socket"' in refused[0].details


async def test_a_bad_key_on_the_session_route_is_audited(api):
    before = await _last_seq(api)
    response = await api.client.get("/api/session",
                                    headers={"Authorization": "Bearer wrong-key-0123456789"})
    assert response.status == 401
    refused = [e for e in await _entries(api, before) if e.action == "access.refused"]
    assert len(refused) == 1 and '"path":"/api/session"' in refused[0].details


async def test_each_rate_limited_burst_of_a_socket_is_audited_not_only_the_first(
        api, booked_consult, clock):
    booked = await booked_consult()
    physician = Peer(str(api.client.make_url("/")), booked["physician_token"])
    await physician.connect()
    ledger = api.client.app[REFUSALS]
    try:
        limited = 0
        for burst in range(3):
            acks = await asyncio.gather(*(physician.call(
                "chat", {"text": "x", "client_id": f"b{burst}-{i}"}) for i in range(40)))
            limited += sum(1 for a in acks if not a["ok"])
            await ledger.flush()  # a window closes between bursts
        entries = [e for e in await _entries(api) if e.action == "signal.refused"]
        assert sum(json.loads(e.details)["count"] for e in entries) == limited
        assert len(entries) >= 3, "each burst (window) is audited, not only the socket's first"
    finally:
        await physician.close()


async def test_what_the_open_windows_counted_is_written_when_the_server_stops(api, settings):
    from server.kernel.db import Database

    for _ in range(5):
        response = await api.client.get("/api/consults")
        assert response.status == 401
    assert [json.loads(e.details)["count"] for e in await _entries(api)] == [1]
    await api.client.close()  # the app's cleanup: the ledger closes before the database
    db = Database(settings.effective_database_url)
    try:
        async with db.reading() as session:
            details = [json.loads(text) for text in (await session.scalars(
                sa.select(AuditEntryRow.details).order_by(AuditEntryRow.seq))).all()]
    finally:
        await db.close()
    assert [d["count"] for d in details] == [1, 4]
    assert details[1]["target"] == "GET /api/consults" and details[1]["reason"] == (
        "unauthenticated")
