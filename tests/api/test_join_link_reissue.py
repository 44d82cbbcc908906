"""Re-issuing a consult's join links revokes the previous ones — over HTTP and at socket
connect, on every node (the version lives in the shared database) — and the new links work."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jwt
import pytest
import socketio
import sqlalchemy as sa

from server.kernel.errors import Unauthenticated
from server.kernel.models import AuditEntryRow
from server.kernel.tokens import ALGORITHM, Role, issue_join_token, read_join_token

from ..conftest import Peer


def token_of(link: str) -> str:
    return link.split("#", 1)[1]


async def test_reissued_links_revoke_the_previous_ones(api, booked_consult):
    booked = await booked_consult()
    consult_id = booked["consult"]["id"]
    url = f"/api/consults/{consult_id}"
    old = {"physician": booked["physician_token"], "guardian": booked["guardian_token"]}
    for token in old.values():
        assert (await api.client.get(url, headers=api.bearer(token))).status == 200

    reissued = await api.client.post(f"{url}/join-links", headers=api.admin)
    assert reissued.status == 201, await reissued.text()
    links = await reissued.json()
    new = {role: token_of(links[role]) for role in old}

    for role, token in old.items():
        response = await api.client.get(url, headers=api.bearer(token))
        assert response.status == 401, role
        problem = await response.json()
        assert "replaced by a newer one" in problem["detail"], role
        peer = Peer(str(api.client.make_url("/")), token)
        try:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await peer.connect()
        finally:
            await peer.close()
    for role, token in new.items():
        assert (await api.client.get(url, headers=api.bearer(token))).status == 200, role
        peer = Peer(str(api.client.make_url("/")), token)
        try:
            await peer.connect()
            if role == "physician":  # (the guardian has not accepted the notice yet)
                assert (await peer.call("join"))["ok"]
        finally:
            await peer.close()

    async with api.services.db.reading() as session:
        entries = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.consult_id == consult_id).order_by(AuditEntryRow.seq))).all()
    issued = [json.loads(e.details) for e in entries if e.action == "consult.links_issued"]
    assert issued == [{"version": 1, "revoked_version": 0}]
    refused = [json.loads(e.details) for e in entries if e.action == "access.refused"]
    assert any("replaced by a newer one" in r["reason"] for r in refused)


async def test_a_second_reissue_revokes_the_first(api, booked_consult):
    booked = await booked_consult()
    url = f"/api/consults/{booked['consult']['id']}"
    first = await (await api.client.post(f"{url}/join-links", headers=api.admin)).json()
    second = await (await api.client.post(f"{url}/join-links", headers=api.admin)).json()
    first_guardian = api.bearer(token_of(first["guardian"]))
    assert (await api.client.get(url, headers=first_guardian)).status == 401
    assert (await api.client.get(url, headers=api.bearer(token_of(second["guardian"])))).status \
        == 200


async def test_a_forged_version_is_no_way_around_it(api, booked_consult):
    """A version ahead of the consult's is as wrong as one behind it (only the secret's
    holder could make one, but the rule is equality, not 'at least')."""
    booked = await booked_consult()
    consult = booked["consult"]
    ahead = issue_join_token(api.services.settings.secret_key, consult_id=consult["id"],
                             role=Role.GUARDIAN, subject=consult["id"],
                             expires_at=api.services.clock.now().replace(year=2027), version=5)
    response = await api.client.get(f"/api/consults/{consult['id']}", headers=api.bearer(ahead))
    assert response.status == 401


def test_a_join_token_carries_its_link_version_inside_the_signature():
    secret, expires = "s" * 40, datetime(2030, 1, 1, tzinfo=UTC)
    token = issue_join_token(secret, consult_id="c", role=Role.GUARDIAN, subject="c",
                             expires_at=expires, version=3)
    assert read_join_token(secret, token).version == 3
    payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"verify_aud": False})
    older = jwt.encode({k: v for k, v in payload.items() if k != "ver"}, secret, ALGORITHM)
    assert read_join_token(secret, older).version == 0  # issued before versions existed
    for bad in ("3", 2.5, True, None):
        forged = jwt.encode({**payload, "ver": bad}, secret, ALGORITHM)
        with pytest.raises(Unauthenticated):
            read_join_token(secret, forged)
