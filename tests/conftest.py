"""Shared fixtures: real databases (a SQLite file and the machine's PostgreSQL), a fixed
clock, and a running application with an HTTP client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import socketio
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from server.api.request_services import Services
from server.app.app import build_app
from server.app.services import build_services
from server.kernel.clock import Clock
from server.kernel.config import Settings, StaffKey

POSTGRES_ADMIN_URL = os.environ.get(
    "SHOUZHEN_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
ADMIN_KEY = "admin-key-for-tests-0123456789"
AUDITOR_KEY = "auditor-key-for-tests-012345678"
FIXED_NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


async def _create_postgres_database() -> str:
    """A database of its own for this test session, dropped at the end."""
    name = f"shouzhen_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = sa.ext.asyncio.create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def _drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = sa.ext.asyncio.create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


def _run_in_thread(coroutine: Any) -> Any:
    """Session fixtures are first asked for from inside a running test loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url: str = _run_in_thread(_create_postgres_database())
    yield url
    _run_in_thread(_drop_postgres_database(url))


async def _empty_postgres(url: str) -> None:
    engine = sa.ext.asyncio.create_async_engine(url)
    async with engine.begin() as connection:
        exists = (await connection.execute(sa.text(
            "SELECT to_regclass('public.audit_head') IS NOT NULL"))).scalar()
        if exists:
            tables = (await connection.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                "AND tablename NOT IN ('alembic_version', 'audit_head')"))).scalars().all()
            if tables:
                await connection.execute(sa.text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
            await connection.execute(sa.text(
                "UPDATE audit_head SET last_seq = 0, last_hash = :h"), {"h": "0" * 64})
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shouzhen.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    await _empty_postgres(url)
    return url


@pytest.fixture
def server_in_beijing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host's local time zone is not UTC: nothing stored or stamped may depend on it."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=FIXED_NOW)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url,
        secret_key="test-secret-key-0123456789abcdef0123456789",
        admin_keys=(StaffKey("alice", ADMIN_KEY),),
        auditor_keys=(StaffKey("audrey", AUDITOR_KEY),),
        max_body_bytes=64 * 1024,
        reconnect_grace_seconds=2,
    )


@dataclass
class Api:
    """An HTTP client on a running app, with the credentials tests need."""

    client: TestClient  # type: ignore[type-arg]
    services: Services

    admin: ClassVar[dict[str, str]] = {"Authorization": f"Bearer {ADMIN_KEY}"}
    auditor: ClassVar[dict[str, str]] = {"Authorization": f"Bearer {AUDITOR_KEY}"}

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(settings: Settings, clock: Clock) -> AsyncIterator[Api]:
    services = build_services(settings, clock)
    app = build_app(settings, services=services)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Api(client, services)
    finally:
        await client.close()


# -- a whitelisted physician and a booked consult, through the API --------------------

ELIGIBLE_PHYSICIAN = {
    "licence_number": "110101198001", "name": "王医生", "department": "儿科",
    "title": "attending", "independent_practice_since": "2015-09-01",
    "internet_consults_since": "2023-03-01", "training_exam_passed_on": "2025-06-15",
    "specialties": ["growth_development", "nutrition", "dermatology"],
}


def booking_for(physician_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "physician_id": physician_id, "specialty": "growth_development",
        "child": {"name": "李小宝", "sex": "female", "birth_date": "2022-05-20",
                  "patient_id": "MRN-0001"},
        "guardian": {"name": "李妈妈", "relationship": "mother", "phone": "13800138000"},
        "scheduled_start": "2026-11-20T02:30:00+00:00",
    }
    body.update(changes)
    return body


@pytest.fixture
def whitelisted_physician(api):
    async def make(**changes: Any) -> dict[str, Any]:
        body = {**ELIGIBLE_PHYSICIAN, **changes}
        created = await api.client.post("/api/physicians", json=body, headers=api.admin)
        assert created.status == 201, await created.text()
        physician = await created.json()
        listed = await api.client.post(
            f"/api/physicians/{physician['id']}/whitelist-status",
            json={"status": "active", "reason": "passed review"}, headers=api.admin)
        assert listed.status == 200, await listed.text()
        return await listed.json()

    return make


@pytest.fixture
def booked_consult(api, whitelisted_physician):
    async def make(**changes: Any) -> dict[str, Any]:
        physician = await whitelisted_physician()
        response = await api.client.post("/api/consults", json=booking_for(
            physician["id"], **changes), headers=api.admin)
        assert response.status == 201, await response.text()
        booked = await response.json()
        links = booked["join_links"]
        booked["physician_token"] = links["physician"].split("#", 1)[1]
        booked["guardian_token"] = links["guardian"].split("#", 1)[1]
        return booked

    return make


# -- one participant's Socket.IO connection, for every test that drives the live consult ---


class Peer:
    """One participant's Socket.IO connection, recording every event it receives."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: dict[str, list[Any]] = defaultdict(list)
        self._arrived = asyncio.Event()

        @self.client.on("*", namespace="/consult")
        async def any_event(event: str, data: Any = None) -> None:
            self.received[event].append(data)
            self._arrived.set()

    async def connect(self) -> None:
        await self.client.connect(self.url, namespaces=["/consult"], auth={"token": self.token},
                                  transports=["websocket"], wait_timeout=5)

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        ack: dict[str, Any] = await self.client.call(event, {} if data is None else data,
                                                     namespace="/consult", timeout=10)
        return ack

    async def wait_for(self, event: str, count: int = 1, within: float = 5) -> list[Any]:
        async def arrived() -> list[Any]:
            while len(self.received[event]) < count:
                self._arrived.clear()
                await self._arrived.wait()
            return self.received[event]

        return await asyncio.wait_for(arrived(), within)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


# -- outcome payloads shared by the signaling and events tests ------------------------------

REFERRAL = {"reason": "needs_physical_examination", "urgency": "within_24h",
            "department": "paediatric_dermatology", "instructions": "请携带既往用药",
            "suggested_examinations": ["皮肤镜"]}
PRESCRIPTION_ITEM = {"drug": "hydrocortisone butyrate cream", "strength": "0.1%",
                     "dose": "thin layer", "route": "topical", "frequency": "twice daily",
                     "duration_days": 7, "quantity": "1 tube (10 g)"}
