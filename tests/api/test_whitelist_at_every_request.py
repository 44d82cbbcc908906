"""The whitelist bites at every physician request: walking the route registry, every route a
physician's link may call answers 403 `physician_not_whitelisted`, in words, once the
physician is suspended — so a route added later cannot forget the check (it is made where
the registry admits the caller, not in handlers)."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from server.app.app import all_endpoints
from server.clinical.physician_standing import PhysicianStanding, PhysicianWithdrawn
from server.kernel.models import AuditEntryRow, PhysicianRow

SUSPENDED_TEXT = "白名单资格已暂停 suspended from the whitelist"
PHYSICIAN_ROUTES = [e for e in all_endpoints() if "physician" in e.access.schemes]


def _url(path: str, consult_id: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: consult_id if m[1] == "consult_id" else "1", path)


async def test_every_route_a_physician_can_call_refuses_a_suspended_physician(
        api, booked_consult):
    assert len(PHYSICIAN_ROUTES) >= 5, "the walk found the physician's routes"
    booked = await booked_consult()
    consult_id = booked["consult"]["id"]
    physician_id = booked["consult"]["physician"]["id"]
    headers = api.bearer(booked["physician_token"])
    before = await api.client.get(f"/api/consults/{consult_id}", headers=headers)
    assert before.status == 200
    suspended = await api.client.post(
        f"/api/physicians/{physician_id}/whitelist-status", headers=api.admin,
        json={"status": "suspended", "reason": "licence under review"})
    assert suspended.status == 200, await suspended.text()

    for endpoint in PHYSICIAN_ROUTES:
        name = f"{endpoint.method} {endpoint.path}"
        response = await api.client.request(endpoint.method, _url(endpoint.path, consult_id),
                                            headers=headers, json={})
        assert response.status == 403, (name, response.status)
        problem = await response.json()
        assert response.content_type == "application/problem+json", name
        assert problem["code"] == "physician_not_whitelisted", (name, problem)
        assert problem["reasons"] == ["suspended"], name
        assert SUSPENDED_TEXT in problem["detail"], name

    async with api.services.db.reading() as session:
        refused = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "access.refused",
            AuditEntryRow.actor_id == physician_id))).all()
    assert refused, "the refusals are audited, under the physician"
    assert all(SUSPENDED_TEXT in json.loads(e.details)["reason"] for e in refused)
    # The guardian of the same consult is not the physician: the family's link still works.
    guardian = await api.client.get(f"/api/consults/{consult_id}",
                                    headers=api.bearer(booked["guardian_token"]))
    assert guardian.status == 200


async def test_the_standing_is_cached_until_forgotten_or_too_old(api, whitelisted_physician,
                                                                 clock):
    physician = await whitelisted_physician()
    ticks = [0.0]
    standing = PhysicianStanding(api.services.db, clock, max_age=10,
                                 monotonic=lambda: ticks[0])
    await standing.require_active(physician["id"])

    async with api.services.db.transaction() as session:  # behind the registry's back
        row = await session.get_one(PhysicianRow, physician["id"])
        row.whitelist_status = "revoked"
    await standing.require_active(physician["id"])  # still the cached answer

    standing.forget(physician["id"])
    with pytest.raises(PhysicianWithdrawn) as refused:  # a forgotten standing is read again
        await standing.require_active(physician["id"])
    assert refused.value.reasons == ["revoked"] and refused.value.status == 403

    async with api.services.db.transaction() as session:
        row = await session.get_one(PhysicianRow, physician["id"])
        row.whitelist_status = "active"
    ticks[0] = 9.9
    with pytest.raises(PhysicianWithdrawn):  # younger than the age limit: still cached
        await standing.require_active(physician["id"])
    ticks[0] = 10.5
    await standing.require_active(physician["id"])  # too old: read again, active
