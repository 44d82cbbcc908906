"""A real consult, recorded and sealed once, then handed to every replay test.

The consult is run exactly as `tests/signaling/test_recording.py` runs one: two aiortc
clients in a call through the server (`call_with_media`), an intake, chat from both sides, a
photo captured from the guardian's device, the consult ended with a referral, recordings
finished and the archive sealed by the server itself. Running such a call takes ~10 s, so
the first test that asks for `sealed_consult` records it, and the resulting rows and files
are kept for the session; every later test gets a fresh application (SQLite or PostgreSQL)
into which those same rows and sealed files are copied before it starts. The data stays
what a real call produced; only the waiting is shared.

The clock runs in real time (recordings carry wall-clock start times, so the timeline and
the recordings must share one time base) and can be moved forward for a later visit.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.models import ArchiveRow, Base, ConsultRow

from ..browser import csp_waits
from ..conftest import ADMIN_KEY, AUDITOR_KEY, booking_for

# The call fixtures and the aiortc stand-in browsers, shared with the signaling tests.
from ..signaling.conftest import (  # noqa: F401
    Peer,
    call_with_media,
    consult_in_waiting_room,
    peers,
    wait_for,
)

csp_waits.install()  # the pages' CSP forbids eval: Playwright's waits must not need it

REFERRAL = {"reason": "needs_physical_examination", "urgency": "within_24h",
            "department": "paediatric_dermatology", "instructions": "请携带既往用药",
            "suggested_examinations": ["皮肤镜"]}
REFERRED = {"outcome": "referred", "referral": REFERRAL, "notes": "面颊皮疹需线下检查"}
PHYSICIAN_SAYS = "请把孩子的左脸颊对准摄像头"
GUARDIAN_SAYS = "好的，这样可以吗？"


@dataclass
class RunningClock(Clock):
    """Real time, plus an offset a test can add (a later visit, years on)."""

    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@pytest.fixture
def clock() -> RunningClock:
    return RunningClock()


def growth_intake(today: Any) -> dict[str, Any]:
    return {"current": {"measured_on": (today - timedelta(days=2)).isoformat(),
                        "height_cm": 99.5, "weight_kg": 15.2},
            "father_height_cm": 175.0, "mother_height_cm": 162.0, "concerns": "比同龄人矮"}


async def book_now(api: Any, physician_id: str, clock: Clock) -> dict[str, Any]:
    """A consult for the test child (always patient MRN-0001) starting now, with the
    guardian's intake already submitted."""
    response = await api.client.post("/api/consults", headers=api.admin, json=booking_for(
        physician_id, scheduled_start=clock.now().isoformat()))
    assert response.status == 201, await response.text()
    booked: dict[str, Any] = await response.json()
    links = booked["join_links"]
    booked["physician_token"] = links["physician"].split("#", 1)[1]
    booked["guardian_token"] = links["guardian"].split("#", 1)[1]
    intake = await api.client.put(f"/api/consults/{booked['consult']['id']}/intake",
                                  json=growth_intake(clock.today()),
                                  headers=api.bearer(booked["guardian_token"]))
    assert intake.status == 200, await intake.text()
    return booked


@pytest.fixture
def booked_consult(api, whitelisted_physician, clock):
    """Overrides the root fixture: booked for now (the clock is real here), with intake."""
    async def make(**changes: Any) -> dict[str, Any]:
        physician = await whitelisted_physician()
        return await book_now(api, physician["id"], clock)

    return make


def skin_photo(width: int = 1280, height: int = 960) -> bytes:
    rng = np.random.default_rng(11)
    base = np.full((height, width, 3), (150, 170, 215), np.uint8)
    texture = cv2.resize(rng.normal(0, 18, (height // 4, width // 4, 3)), (width, height),
                         interpolation=cv2.INTER_CUBIC)
    image = np.clip(base + texture, 0, 255).astype(np.uint8)
    cv2.circle(image, (width // 2, height // 2), height // 8, (90, 90, 170), -1)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(encoded)


# -- the sealed consult ------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedConsult:
    consult_id: str
    child_id: str
    physician_id: str
    physician_token: str
    guardian_token: str
    photo_ids: tuple[str, ...]


@dataclass
class _Recorded:
    consult: SealedConsult
    tables: dict[str, list[dict[str, Any]]]
    store: Path


@dataclass
class _Cache:
    recorded: _Recorded | None = None
    stats: dict[str, int] = field(default_factory=dict)


CACHE = _Cache()


async def wait_until_sealed(db: Database, consult_id: str, within: float = 30) -> ArchiveRow:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with db.reading() as session:
            row = await session.get(ArchiveRow, consult_id)
            consult = await session.get(ConsultRow, consult_id)
        if row is not None and consult is not None and consult.state == "archived":
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"consult {consult_id} was not sealed within {within} s")
        await asyncio.sleep(0.1)


async def _snapshot_tables(db: Database) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    async with db.reading() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(sa.select(table))).mappings().all()
            tables[table.name] = [dict(row) for row in rows]
    return tables


async def _restore_tables(db: Database, tables: dict[str, list[dict[str, Any]]]) -> None:
    async with db.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(table.delete())
        for table in Base.metadata.sorted_tables:
            if tables.get(table.name):
                await session.execute(table.insert(), tables[table.name])
        if not db.is_sqlite:
            # Rows came with their ids: move each serial sequence past them.
            for table in Base.metadata.sorted_tables:
                keys = list(table.primary_key.columns)
                if len(keys) == 1 and isinstance(keys[0].type, sa.Integer):
                    column = keys[0].name
                    await session.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
                        f"(SELECT COALESCE(MAX({column}), 0) + 1 FROM {table.name}), false)"))


@pytest.fixture
async def _record_sealed_consult(api, call_with_media,  # noqa: F811 (a fixture)
                                 tmp_path_factory) -> SealedConsult:
    booked, sockets, clients, _media, _negotiate = call_with_media
    consult_id = booked["consult"]["id"]
    for client in clients.values():
        client.start()
    await wait_for(lambda: len(clients["guardian"].received["video"].pts) >= 45, 20,
                   "1.5 s of call")
    assert (await sockets["physician"].call("chat", {"text": PHYSICIAN_SAYS,
                                                     "client_id": "p-1"}))["ok"]
    ack = await sockets["physician"].call("capture_request", {
        "body_site": "cheek", "laterality": "left", "view": "close_up"})
    assert ack["ok"], ack
    request = (await sockets["guardian"].wait_for("capture_requested"))[-1]
    upload = await api.client.post(request["upload_url"], data=skin_photo(), headers={
        "Authorization": f"Bearer {request['token']}", "Content-Type": "image/jpeg"})
    assert upload.status == 201, await upload.text()
    await wait_for(lambda: len(clients["guardian"].received["video"].pts) >= 105, 20,
                   "3.5 s of call")
    assert (await sockets["guardian"].call("chat", {"text": GUARDIAN_SAYS,
                                                    "client_id": "g-1"}))["ok"]
    await wait_for(lambda: len(clients["guardian"].received["video"].pts) >= 135, 20,
                   "4.5 s of call")
    for client in clients.values():
        client.gate.clear()
    await asyncio.sleep(0.3)
    ended = await sockets["physician"].call("end", REFERRED)
    assert ended["ok"], ended
    await wait_until_sealed(api.services.db, consult_id)
    photos = await (await api.client.get(f"/api/consults/{consult_id}/photos",
                                         headers=api.auditor)).json()
    consult = SealedConsult(consult_id, booked["consult"]["child"]["id"],
                            booked["consult"]["physician"]["id"], booked["physician_token"],
                            booked["guardian_token"],
                            tuple(p["id"] for p in photos["photos"]))
    store = tmp_path_factory.mktemp("sealed-consult") / "store"
    shutil.copytree(api.services.storage.root, store)
    CACHE.recorded = _Recorded(consult, await _snapshot_tables(api.services.db), store)
    return consult


@pytest.fixture
async def _restore_sealed_consult(api) -> SealedConsult:
    recorded = CACHE.recorded
    assert recorded is not None
    await _restore_tables(api.services.db, recorded.tables)
    shutil.copytree(recorded.store, api.services.storage.root, dirs_exist_ok=True)
    return recorded.consult


@pytest.fixture
def sealed_consult(request: pytest.FixtureRequest) -> SealedConsult:
    """A consult recorded through the server by two aiortc clients, ended with a referral
    and sealed, in this test's own database and store (see the module docstring)."""
    name = "_record_sealed_consult" if CACHE.recorded is None else "_restore_sealed_consult"
    consult: SealedConsult = request.getfixturevalue(name)
    return consult


# -- helpers -----------------------------------------------------------------------------------


async def later_visit(api: Any, open_peer: Callable[[str], Awaitable[Peer]], physician_id: str,
                      clock: RunningClock, after: timedelta) -> str:
    """The same child comes back `after` later: a second consult, held (sockets only, no
    media needed), ended and sealed. Returns its id."""
    clock.advance(after)
    booked = await book_now(api, physician_id, clock)
    consult_id = booked["consult"]["id"]
    notice = await api.client.post(f"/api/consults/{consult_id}/recording-notice",
                                   headers=api.bearer(booked["guardian_token"]))
    assert notice.status == 200, await notice.text()
    physician = await open_peer(booked["physician_token"])
    assert (await physician.call("join"))["ok"]
    guardian = await open_peer(booked["guardian_token"])
    assert (await guardian.call("join"))["ok"]
    assert (await physician.call("admit"))["ok"]
    assert (await physician.call("confirm_guardian_present"))["ok"]
    ended = await physician.call("end", {"outcome": "completed", "diagnosis": "生长正常",
                                         "icd10": "Z00.1"})
    assert ended["ok"], ended
    await wait_until_sealed(api.services.db, consult_id)
    return consult_id


def tamper(path: Path, at: int = 100) -> None:
    """Flip one byte of a sealed (read-only) file, as someone with disk access could."""
    path.chmod(0o644)
    with path.open("r+b") as handle:
        handle.seek(at)
        byte = handle.read(1)
        handle.seek(at)
        handle.write(bytes([byte[0] ^ 0x01]))


AUDITOR = {"Authorization": f"Bearer {AUDITOR_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
