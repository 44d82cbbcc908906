"""Photo capture from the guardian's device: request over Socket.IO, one-time token upload
over HTTP, the physician's gallery told at once; every bad upload refused and audited."""

from datetime import timedelta

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from server.kernel.models import AuditEntryRow, PhotoRow


def skin_photo(width=1600, height=1200) -> bytes:
    """A textured, well-lit skin-like scene with a lesion: scores as sharp and exposed."""
    rng = np.random.default_rng(7)
    base = np.full((height, width, 3), (150, 170, 215), np.uint8)
    noise = rng.normal(0, 18, (height // 4, width // 4, 3))
    texture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(base + texture + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    cv2.circle(image, (width // 2, height // 2), height // 8, (90, 90, 170), -1)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return bytes(encoded)


@pytest.fixture
async def confirmed_call(consult_in_waiting_room):
    booked, physician, guardian = consult_in_waiting_room
    assert (await physician.call("admit"))["ok"]
    assert (await physician.call("confirm_guardian_present"))["ok"]
    return booked, physician, guardian


async def request_capture(physician, guardian, **fields):
    ack = await physician.call("capture_request", {"body_site": "cheek", "laterality": "left",
                                                   "view": "close_up", **fields})
    assert ack["ok"], ack
    request = (await guardian.wait_for("capture_requested"))[-1]
    assert request["request_id"] == ack["request_id"]
    return request


async def upload(api, request, data, content_type="image/jpeg", token=None):
    return await api.client.post(request["upload_url"], data=data, headers={
        "Authorization": f"Bearer {token or request['token']}", "Content-Type": content_type})


async def test_a_device_still_is_stored_scored_and_shown_to_the_physician(api, confirmed_call):
    booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    assert request["label_zh"] and request["label_en"]
    response = await upload(api, request, skin_photo())
    assert response.status == 201, await response.text()
    photo = await response.json()
    assert (photo["width"], photo["height"], photo["source"]) == (1600, 1200, "device")
    assert photo["body_site"] == "cheek" and photo["laterality"] == "left"
    assert "blurry" not in photo["quality"]["flags"]
    seen = [p for p in await physician.wait_for("photo_captured") if p["source"] == "device"]
    assert seen and seen[0]["id"] == photo["id"]
    async with api.services.db.reading() as session:
        row = await session.get(PhotoRow, photo["id"])
    assert row.retention_class == "medical_record"
    stored = api.services.storage.read(row.storage_key)
    assert stored == skin_photo() and len(stored) == photo["size_bytes"]
    image = await api.client.get(photo["url"], headers=api.bearer(booked["physician_token"]))
    assert image.status == 200 and await image.read() == stored


async def test_a_blurred_photo_is_kept_but_flagged_for_a_retake(api, confirmed_call):
    _booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    sharp = cv2.imdecode(np.frombuffer(skin_photo(), np.uint8), cv2.IMREAD_COLOR)
    blurred = bytes(cv2.imencode(".jpg", cv2.GaussianBlur(sharp, (0, 0), 6))[1])
    photo = await (await upload(api, request, blurred)).json()
    assert photo["needs_retake"] and "blurry" in photo["quality"]["flags"]
    assert "hold_still" in photo["quality"]["guidance"]
    retake = await physician.call("capture_request", {"body_site": "cheek", "laterality": "left",
                                                      "retake_of": photo["id"]})
    assert retake["ok"]


async def test_a_capture_token_works_once(api, confirmed_call):
    _booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    assert (await upload(api, request, skin_photo())).status == 201
    again = await upload(api, request, skin_photo())
    assert again.status == 409 and "already used" in (await again.json())["detail"]
    async with api.services.db.reading() as session:
        photos = (await session.scalars(sa.select(PhotoRow).where(
            PhotoRow.source == "device"))).all()
    assert len(photos) == 1


async def test_an_expired_capture_token_is_refused(api, confirmed_call, clock):
    _booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    clock.advance(timedelta(minutes=3))
    response = await upload(api, request, skin_photo())
    assert response.status == 401


async def test_a_join_token_is_not_a_capture_token(api, confirmed_call):
    booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    response = await upload(api, request, skin_photo(), token=booked["guardian_token"])
    assert response.status == 403


@pytest.mark.parametrize(("data", "content_type", "status"), [
    (b"this is not an image at all", "image/jpeg", 422),
    (None, "image/png", 415),  # a JPEG declared as PNG
])
async def test_bad_uploads_are_refused_nothing_is_stored_and_the_refusal_is_audited(
        api, confirmed_call, data, content_type, status):
    _booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    response = await upload(api, request, data or skin_photo(), content_type)
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    async with api.services.db.reading() as session:
        assert (await session.scalars(sa.select(PhotoRow).where(
            PhotoRow.source == "device"))).all() == []
        refusals = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "access.refused"))).all()
    assert refusals
    assert (await upload(api, request, skin_photo())).status == 201  # the token is unspent


async def test_a_truncated_jpeg_is_refused(api, confirmed_call):
    _booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    data = skin_photo()
    response = await upload(api, request, data[: len(data) // 2])
    assert response.status == 422


async def test_a_photo_over_the_size_limit_is_413(api, confirmed_call):
    _booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    limit = api.services.settings.max_photo_bytes
    response = await upload(api, request, b"\xff\xd8" + b"\0" * (limit + 10))
    assert response.status == 413


async def test_capture_needs_confirmed_guardian_presence_and_the_physician(
        api, consult_in_waiting_room):
    _booked, physician, guardian = consult_in_waiting_room
    await physician.call("admit")
    early = await physician.call("capture_request", {"body_site": "cheek", "laterality": "left"})
    assert early["error"]["code"] == "guardian_presence_required"
    await physician.call("confirm_guardian_present")
    by_guardian = await guardian.call("capture_request", {"body_site": "cheek",
                                                          "laterality": "left"})
    assert by_guardian["error"]["code"] == "forbidden"
    unknown = await physician.call("capture_request", {"body_site": "elbowpit"})
    assert unknown["error"]["code"] == "invalid_input"


async def test_the_guardian_can_add_gallery_photos_before_the_call(api, booked_consult):
    booked = await booked_consult()
    url = f"/api/consults/{booked['consult']['id']}/photos?body_site=forearm&laterality=right"
    response = await api.client.post(url, data=skin_photo(), headers={
        **api.bearer(booked["guardian_token"]), "Content-Type": "image/jpeg"})
    assert response.status == 201, await response.text()
    assert (await response.json())["source"] == "upload"
    listed = await (await api.client.get(f"/api/consults/{booked['consult']['id']}/photos",
                                         headers=api.bearer(booked["physician_token"]))).json()
    assert [p["body_site"] for p in listed["photos"]] == ["forearm"]


async def test_dicom_export_of_a_captured_photo(api, confirmed_call):
    import io

    import pydicom

    booked, physician, guardian = confirmed_call
    request = await request_capture(physician, guardian)
    photo = await (await upload(api, request, skin_photo())).json()
    response = await api.client.get(photo["url"].replace("/image", "/dicom"),
                                    headers=api.bearer(booked["physician_token"]))
    assert response.status == 200
    dataset = pydicom.dcmread(io.BytesIO(await response.read()))
    assert dataset.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4"
    assert (dataset.Columns, dataset.Rows) == (1600, 1200)
