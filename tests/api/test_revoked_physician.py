"""A revoked physician can neither be booked nor join a consult booked before the revocation.

Revocation takes effect at once (whitelist changes are re-checked at booking and at join).
"""

import json

import pytest
import socketio
import sqlalchemy as sa

from server.kernel.models import AuditEntryRow, ConsultRow

from ..conftest import Peer, booking_for

REVOKED_TEXT = "白名单资格已撤销 revoked from the whitelist"


async def revoke(api, physician_id: str) -> None:
    response = await api.client.post(f"/api/physicians/{physician_id}/whitelist-status",
                                     json={"status": "revoked", "reason": "licence lapsed"},
                                     headers=api.admin)
    assert response.status == 200, await response.text()
    assert (await response.json())["whitelist_status"] == "revoked"


async def test_a_revoked_physician_cannot_be_booked(api, whitelisted_physician):
    physician = await whitelisted_physician()
    await revoke(api, physician["id"])
    response = await api.client.post("/api/consults", headers=api.admin,
                                     json=booking_for(physician["id"]))
    problem = await response.json()
    assert response.status == 409
    assert problem["code"] == "physician_not_whitelisted"
    assert problem["reasons"] == ["revoked"]
    assert problem["detail"] == ("this physician cannot take first-visit consults in "
                                 f"growth_development: {REVOKED_TEXT}")
    async with api.services.db.reading() as session:
        booked = (await session.execute(sa.select(sa.func.count()).select_from(ConsultRow)))
        assert booked.scalar() == 0


async def test_a_consult_booked_before_the_revocation_refuses_the_physicians_join(
        api, booked_consult):
    booked = await booked_consult()
    consult_id = booked["consult"]["id"]
    peer = Peer(str(api.client.make_url("/")), booked["physician_token"])
    await peer.connect()  # before the revocation the physician may join
    await peer.close()

    await revoke(api, booked["consult"]["physician"]["id"])
    peer = Peer(str(api.client.make_url("/")), booked["physician_token"])
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await peer.connect()
    finally:
        await peer.close()
    async with api.services.db.reading() as session:
        refused = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "access.refused",
            AuditEntryRow.consult_id == consult_id))).all()
    assert len(refused) == 1
    details = json.loads(refused[0].details)
    assert details["channel"] == "socket" and details["code"] == "physician_not_whitelisted"
    assert details["reason"] == (
        f"this physician may not hold first-visit consults now: {REVOKED_TEXT}")
    assert (refused[0].actor_role, refused[0].actor_id) == (
        "physician", booked["consult"]["physician"]["id"])
