"""Photo quotas and bounded decoding (issue 24, finding 4): a consult holds a bounded number
of photos, a photo's pixels are capped from its header before any decoding, and decodes run
in a pool of their own that one consult cannot fill."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
import zlib

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from server.kernel.models import AuditEntryRow, PhotoRow
from server.photos.capture import PhotoQuotaExceeded, PhotoQuotas, check_quota
from server.photos.decode_pool import DecodeBusy, DecodePool
from tests.conftest import Api


def skin_photo(seed: int, width: int = 640, height: int = 480) -> bytes:
    rng = np.random.default_rng(seed)
    image = np.clip(np.full((height, width, 3), (150, 170, 215), np.float64)
                    + rng.normal(0, 18, (height, width, 3)), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(encoded)


def flat_png(width: int, height: int) -> bytes:
    """A valid greyscale PNG of `width`×`height` black pixels: tiny on the wire, huge decoded
    (7000×7000 is 49 megapixels in ~50 KiB, like the outside pass's 139 KiB file)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    rows = zlib.compress(b"\0" * ((width + 1) * height), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                             0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


@pytest.fixture
def settings(settings):
    """The suite's settings with a consult quota small enough to reach."""
    return settings.replace(max_photos_per_consult=3, max_photo_megapixels=24.0)


async def _book(api: Api, whitelisted_physician) -> dict:
    from tests.conftest import booking_for

    physician = await whitelisted_physician()
    booked = await (await api.client.post("/api/consults", json=booking_for(physician["id"]),
                                          headers=api.admin)).json()
    booked["guardian_token"] = booked["join_links"]["guardian"].split("#", 1)[1]
    return booked


async def _photo_rows(api: Api) -> int:
    async with api.services.db.reading() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(PhotoRow))
                ).scalar_one()


async def _refusals(api: Api) -> list[dict]:
    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "photo.refused").order_by(AuditEntryRow.seq))).all()
    return [json.loads(row.details) if isinstance(row.details, str) else row.details
            for row in rows]


async def test_gallery_uploads_beyond_the_consult_quota_are_refused_and_audited(
        api, whitelisted_physician):
    booked = await _book(api, whitelisted_physician)
    url = f"/api/consults/{booked['consult']['id']}/photos"
    headers = {**api.bearer(booked["guardian_token"]), "Content-Type": "image/jpeg"}
    statuses = [(await api.client.post(url, data=skin_photo(i), headers=headers)).status
                for i in range(5)]
    assert statuses == [201, 201, 201, 409, 409]
    refused = await api.client.post(url, data=skin_photo(9), headers=headers)
    problem = await refused.json()
    assert refused.content_type == "application/problem+json"
    assert problem["code"] == "photo_quota_exceeded" and problem["limit"] == 3
    assert "3 photos" in problem["detail"]
    assert await _photo_rows(api) == 3
    audited = await _refusals(api)
    assert len(audited) == 3 and {a["code"] for a in audited} == {"photo_quota_exceeded"}


async def test_a_photo_over_the_pixel_cap_is_refused_from_its_header_without_decoding(
        api, whitelisted_physician):
    booked = await _book(api, whitelisted_physician)
    bomb = flat_png(7000, 7000)  # 49 MP, under every byte limit
    assert len(bomb) < 200 * 1024
    url = f"/api/consults/{booked['consult']['id']}/photos"
    started = time.perf_counter()
    response = await api.client.post(url, data=bomb, headers={
        **api.bearer(booked["guardian_token"]), "Content-Type": "image/png"})
    elapsed = time.perf_counter() - started
    problem = await response.json()
    assert response.status == 422 and problem["reason"] == "decompression_bomb", problem
    assert "49000000 pixels" in problem["detail"] and "24000000" in problem["detail"]
    assert elapsed < 1.0, f"{elapsed:.2f} s: the image was decoded"  # a decode takes ~4 s
    assert api.services.photos.decodes.admitted == 0
    assert [a["code"] for a in await _refusals(api)] == ["photo_rejected"]


def test_the_quota_rule():
    quotas = PhotoQuotas(per_consult=3, per_capture_request=2)
    check_quota(2, None, quotas)
    check_quota(2, 1, quotas)
    with pytest.raises(PhotoQuotaExceeded, match="consult already holds 3"):
        check_quota(3, None, quotas)
    with pytest.raises(PhotoQuotaExceeded, match="request already yielded 2"):
        check_quota(0, 2, quotas)


async def test_the_decode_pool_bounds_work_in_flight_and_each_consult_s_share():
    pool = DecodePool(workers=1, queue=2, per_consult=2)
    release = threading.Event()

    def slow() -> str:
        release.wait(5)
        return "decoded"

    try:
        first = asyncio.ensure_future(pool.run("a", slow))
        second = asyncio.ensure_future(pool.run("a", slow))
        await asyncio.sleep(0.05)
        with pytest.raises(DecodeBusy, match="this consult already has 2"):
            await pool.run("a", slow)
        third = asyncio.ensure_future(pool.run("b", slow))
        await asyncio.sleep(0.05)
        with pytest.raises(DecodeBusy, match="3 photos are being processed") as busy:
            await pool.run("c", slow)
        assert busy.value.status == 503 and busy.value.extra["retry_after_s"] > 0
        release.set()
        assert await asyncio.gather(first, second, third) == ["decoded"] * 3
        await asyncio.sleep(0.05)
        assert pool.admitted == 0
        assert await pool.run("a", lambda: "again") == "again"
    finally:
        release.set()
        pool.close()


async def test_a_decode_leaves_the_event_loop_free():
    pool = DecodePool(workers=1)
    bomb = flat_png(6000, 4000)  # 24 MP: the largest photo allowed

    def decode() -> tuple[int, ...]:
        image = cv2.imdecode(np.frombuffer(bomb, np.uint8), cv2.IMREAD_COLOR)
        return tuple(image.shape)

    lags: list[float] = []

    async def tick() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - started - 0.01)

    ticker = asyncio.ensure_future(tick())
    try:
        assert await pool.run("a", decode) == (4000, 6000, 3)
    finally:
        ticker.cancel()
        pool.close()
    assert lags and max(lags) < 0.1, f"the loop stalled {max(lags):.3f} s"
