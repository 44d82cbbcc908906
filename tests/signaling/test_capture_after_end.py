"""A capture that ends after the consult has: it stores nothing, says so, and the sealed
archive stays exactly as sealed (issue 24, finding 1: a stream still saved 2–3 s after the
seal used to make every later verification report two unexpected files)."""

import sqlalchemy as sa

from recorder.archive_manifest import verify_manifest
from recorder.storage import consult_prefix
from server.kernel.models import AuditEntryRow, PhotoRow

from .conftest import wait_for
from .test_capture import request_capture, skin_photo, upload
from .test_recording import sealed


async def test_a_still_requested_just_before_the_end_never_lands_in_the_sealed_archive(
        api, call_with_media):
    from server.app.live import NAMESPACE_KEY

    booked, sockets, clients, _media, _negotiate = call_with_media
    consult_id = booked["consult"]["id"]
    for client in clients.values():
        client.start()
    await wait_for(lambda: len(clients["physician"].received["video"].pts) >= 20, 15,
                   "the guardian's video reaches the physician")
    for client in clients.values():
        client.gate.clear()  # no fresh keyframe: the still waits its full time, as on a phone
    ack = await sockets["physician"].call("capture_request", {"body_site": "cheek",
                                                              "laterality": "left"})
    assert ack["ok"], ack
    ended = await sockets["physician"].call("end", {"outcome": "completed",
                                                    "diagnosis": "湿疹"})
    assert ended["ok"], ended
    archive = await sealed(api, consult_id)
    await api.client.app[NAMESPACE_KEY].wait_for_background()  # the still has finished

    root = api.services.storage.path_for(consult_prefix(consult_id))
    verification = verify_manifest(root, archive.manifest_sha256)
    assert verification.ok and not verification.unexpected, verification.unexpected
    async with api.services.db.reading() as session:
        photos = (await session.scalars(sa.select(PhotoRow).where(
            PhotoRow.consult_id == consult_id))).all()
        discarded = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.consult_id == consult_id,
            AuditEntryRow.action == "capture.discarded"))).all()
    assert photos == []
    assert len(discarded) == 1 and ack["request_id"] in discarded[0].details
    notices = sockets["physician"].received["capture_discarded"]
    assert [n["request_id"] for n in notices] == [ack["request_id"]]


async def test_a_device_upload_after_the_end_is_refused_and_stores_nothing(
        api, consult_in_waiting_room):
    booked, physician, guardian = consult_in_waiting_room
    consult_id = booked["consult"]["id"]
    assert (await physician.call("admit"))["ok"]
    assert (await physician.call("confirm_guardian_present"))["ok"]
    request = await request_capture(physician, guardian)
    assert (await physician.call("end", {"outcome": "completed", "diagnosis": "湿疹"}))["ok"]
    archive = await sealed(api, consult_id)
    response = await upload(api, request, skin_photo())
    assert response.status == 409, await response.text()
    assert "not stored" in (await response.json())["detail"]
    root = api.services.storage.path_for(consult_prefix(consult_id))
    verification = verify_manifest(root, archive.manifest_sha256)
    assert verification.ok and not verification.unexpected, verification.unexpected
    async with api.services.db.reading() as session:
        refused = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.consult_id == consult_id,
            AuditEntryRow.action == "access.refused"))).all()
    assert any("not stored" in entry.details for entry in refused)
