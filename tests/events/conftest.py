"""Events out: a real webhook receiver on 127.0.0.1, fast retry timings, and helpers that
take a consult to its end through the service layer and the API."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app.app import build_app
from server.app.services import build_services
from server.events.webhooks import (
    HEADER_EVENT_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    verify_signature,
)
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.config import Settings, WebhookConfig
from server.kernel.db import Database
from server.kernel.models import EventDeliveryRow, OutboxEventRow

from ..conftest import ELIGIBLE_PHYSICIAN, PRESCRIPTION_ITEM, REFERRAL, Api, booking_for

SECRET = "webhook-secret-for-tests-0123456789"
# Retries in tens of milliseconds instead of seconds to minutes: the policy, not the waiting,
# is what the tests prove.
FAST: dict[str, Any] = {"event_poll_seconds": 0.02, "event_retry_base_seconds": 0.05,
                        "event_retry_cap_seconds": 0.3, "event_timeout_seconds": 0.5,
                        "event_alert_after_hours": 1000.0}

COMPLETED = {"outcome": "completed", "diagnosis": "特应性皮炎", "icd10": "L20.9",
             "advice": "保湿", "prescription": [PRESCRIPTION_ITEM]}
REFERRED = {"outcome": "referred", "referral": REFERRAL}
ABORTED = {"outcome": "aborted", "reason": "technical_failure", "follow_up": "referral",
           "referral": {**REFERRAL, "reason": "technical_failure", "urgency": "routine"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 10.0,
                     every: float = 0.02) -> Any:
    """The first truthy result of `check`, polled; fails the test after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s (last: {result!r})")
        await asyncio.sleep(every)


class Receiver:
    """A hospital system's webhook endpoint. Modes: up (200), 503, 400, hang (never answers),
    down (the port refuses connections)."""

    def __init__(self, secret: str = SECRET, delay: float = 0.0) -> None:
        self.secret = secret
        self.delay = delay
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/shouzhen?token=abc"
        self.mode = "up"
        self.received: list[dict[str, Any]] = []  # bodies acknowledged with 2xx, in order
        self.requests: Counter[str] = Counter()  # every request, per event id
        self.bad_signatures = 0
        self._arrived = asyncio.Event()
        self._unhang = asyncio.Event()
        app = web.Application()
        app.router.add_post("/hooks/shouzhen", self._handle)
        self.runner = web.AppRunner(app, handler_cancellation=True)
        self.site: web.TCPSite | None = None

    async def start(self) -> None:
        await self.runner.setup()
        await self.come_up()

    async def come_up(self, mode: str = "up") -> None:
        self.mode = mode
        self._unhang.set()
        if self.site is None:
            self.site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
            await self.site.start()

    async def go_down(self) -> None:
        self.mode = "down"
        if self.site is not None:
            await self.site.stop()
            self.site = None

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "hang":
            self._unhang.clear()
        else:
            self._unhang.set()

    async def close(self) -> None:
        self._unhang.set()
        await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        event_id = request.headers.get(HEADER_EVENT_ID, "")
        self.requests[event_id] += 1
        if self.mode == "down":  # a kept-alive connection from before going down: cut it
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=503)
        if not verify_signature(self.secret, request.headers.get(HEADER_TIMESTAMP), body,
                                request.headers.get(HEADER_SIGNATURE), time.time()):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        if self.mode == "hang":
            await self._unhang.wait()
            return web.Response(status=503)  # the sender gave up long ago
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode in ("503", "400"):
            return web.Response(status=int(self.mode), text=f"receiver says {self.mode}")
        envelope = json.loads(body)
        assert envelope["id"] == event_id
        self.received.append(envelope)
        self._arrived.set()
        return web.Response(status=204)

    async def wait_for(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            return self.received if len(self.received) >= count else None
        return list(await eventually(enough, within))

    def ids(self) -> list[str]:
        return [e["id"] for e in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.close()


@pytest.fixture
def settings(settings: Settings, receiver: Receiver) -> Settings:
    """The shared settings, with the test's receiver as the one webhook and fast timings."""
    return settings.replace(webhooks=(
        WebhookConfig(url=receiver.url, secret=SECRET, name="his"),), **FAST)


@pytest.fixture
async def nodes(settings: Settings, clock: Clock) -> AsyncIterator[
        Callable[..., Awaitable[Api]]]:
    """Start another shouzhen node (app + dispatcher) on the same database; `changes`
    replace settings. Stop one with `await node.client.close()`."""
    started: list[TestClient] = []  # type: ignore[type-arg]

    async def start(**changes: Any) -> Api:
        node_settings = settings.replace(**changes)
        services = build_services(node_settings, clock)
        client = TestClient(TestServer(build_app(node_settings, services=services)))
        await client.start_server()
        started.append(client)
        return Api(client, services)

    yield start
    for client in started:
        await client.close()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database without an application (to run dispatchers by hand)."""
    db = Database(database_url)
    await db.migrate()
    yield db
    await db.close()


# -- taking consults to their end ---------------------------------------------------------


async def make_physician(api: Api, **changes: Any) -> dict[str, Any]:
    created = await api.client.post("/api/physicians", json={**ELIGIBLE_PHYSICIAN, **changes},
                                    headers=api.admin)
    assert created.status == 201, await created.text()
    physician = await created.json()
    listed = await api.client.post(f"/api/physicians/{physician['id']}/whitelist-status",
                                   json={"status": "active", "reason": "passed review"},
                                   headers=api.admin)
    assert listed.status == 200, await listed.text()
    result: dict[str, Any] = await listed.json()
    return result


async def book(api: Api, physician_id: str, **changes: Any) -> dict[str, Any]:
    response = await api.client.post("/api/consults", json=booking_for(physician_id, **changes),
                                     headers=api.admin)
    assert response.status == 201, await response.text()
    booked: dict[str, Any] = await response.json()
    links = booked["join_links"]
    booked["id"] = booked["consult"]["id"]
    booked["physician_id"] = physician_id
    booked["physician_token"] = links["physician"].split("#", 1)[1]
    booked["guardian_token"] = links["guardian"].split("#", 1)[1]
    return booked


async def bring_into_call(api: Api, booked: dict[str, Any], *,
                          wait: timedelta = timedelta(0)) -> None:
    """Notice accepted, guardian in the waiting room for `wait` (the fixed clock moves),
    admitted, presence confirmed — what the sockets do, through the service layer."""
    consult_id = booked["id"]
    notice = await api.client.post(f"/api/consults/{consult_id}/recording-notice",
                                   headers=api.bearer(booked["guardian_token"]))
    assert notice.status == 200, await notice.text()
    consults = api.services.consults
    await consults.guardian_arrives(Actor("guardian", consult_id), consult_id)
    api.services.clock.advance(wait)
    physician = Actor("physician", booked["physician_id"])
    await consults.admit(physician, consult_id)
    await consults.confirm_guardian_present(physician, consult_id)


ACCOMPANYING_PHYSICIAN = {"name": "张医生", "licence_number": "110105199001",
                          "institution": "社区卫生服务中心"}


async def end_through_api(api: Api, booked: dict[str, Any], body: dict[str, Any]) -> dict[
        str, Any]:
    if body.get("prescription"):
        # The booked child is 4: an online prescription needs the accompanying physician.
        recorded = await api.client.post(
            f"/api/consults/{booked['id']}/accompanying-physician", json=ACCOMPANYING_PHYSICIAN,
            headers=api.bearer(booked["physician_token"]))
        assert recorded.status == 200, await recorded.text()
    response = await api.client.post(f"/api/consults/{booked['id']}/end", json=body,
                                     headers=api.bearer(booked["physician_token"]))
    assert response.status == 200, await response.text()
    ended: dict[str, Any] = await response.json()
    return ended


async def outbox_rows(db: Database) -> list[OutboxEventRow]:
    async with db.reading() as session:
        return list((await session.scalars(
            sa.select(OutboxEventRow).order_by(OutboxEventRow.id))).all())


async def delivery_rows(db: Database) -> list[EventDeliveryRow]:
    async with db.reading() as session:
        return list((await session.scalars(
            sa.select(EventDeliveryRow).order_by(EventDeliveryRow.id))).all())


def assert_in_consult_order(received: list[dict[str, Any]],
                            outbox: list[OutboxEventRow]) -> None:
    """Per consult, the receiver saw the events in the order they were written."""
    written = {}
    for row in outbox:
        written.setdefault(row.consult_id, []).append(row.event_id)
    seen: dict[str | None, list[str]] = {}
    for envelope in received:
        seen.setdefault(envelope["consult_id"], []).append(envelope["id"])
    assert seen == {k: v for k, v in written.items() if k in seen}


