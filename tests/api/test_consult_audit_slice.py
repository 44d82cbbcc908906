"""One consult's audit timeline holds that consult's entries and no other consult's."""

import sqlalchemy as sa

from server.kernel.models import AuditEntryRow

from ..conftest import AUDITOR_KEY, booking_for

AUDITOR = {"Authorization": f"Bearer {AUDITOR_KEY}"}


async def seqs_of(api, consult_id: str) -> list[int]:
    async with api.services.db.reading() as session:
        return list((await session.scalars(sa.select(AuditEntryRow.seq).where(
            AuditEntryRow.consult_id == consult_id).order_by(AuditEntryRow.seq))).all())


async def test_two_consults_timelines_do_not_mix(api, booked_consult):
    first = await booked_consult()
    response = await api.client.post("/api/consults", headers=api.admin, json=booking_for(
        first["consult"]["physician"]["id"]))
    assert response.status == 201, await response.text()
    second = await response.json()
    second["guardian_token"] = second["join_links"]["guardian"].split("#", 1)[1]
    a, b = first["consult"]["id"], second["consult"]["id"]
    # interleave entries of both consults in the one chain
    for booked in (first, second):
        accepted = await api.client.post(
            f"/api/consults/{booked['consult']['id']}/recording-notice",
            headers=api.bearer(booked["guardian_token"]))
        assert accepted.status == 200, await accepted.text()

    for consult_id, other in ((a, b), (b, a)):
        expected = await seqs_of(api, consult_id)
        response = await api.client.get(f"/api/replay/consults/{consult_id}", headers=AUDITOR)
        assert response.status == 200, await response.text()
        timeline = (await response.json())["timeline"]
        assert [item["seq"] for item in timeline] == expected
        assert [item["action"] for item in timeline] == [
            "consult.booked", "consult.recording_notice_accepted"]
        assert not set(expected) & set(await seqs_of(api, other))
