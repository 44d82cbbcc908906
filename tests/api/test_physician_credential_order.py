"""A physician's internet follow-up experience cannot be dated before their independent
practice: refused on registration and on a change of either date, nothing stored."""

from datetime import date

import pytest
import sqlalchemy as sa

from server.clinical.physicians import PhysicianPatch
from server.kernel.audit_log import Actor
from server.kernel.errors import InvalidInput
from server.kernel.models import AuditEntryRow, PhysicianRow

from ..conftest import ELIGIBLE_PHYSICIAN

MESSAGE = ("2015-08-31 is before independent practice began (2015-09-01): internet follow-up "
           "consults need independent practice")


async def test_registration_with_internet_experience_before_practice_is_refused(api):
    body = {**ELIGIBLE_PHYSICIAN, "internet_consults_since": "2015-08-31"}
    response = await api.client.post("/api/physicians", json=body, headers=api.admin)
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"] == [{"field": "internet_consults_since", "message": MESSAGE}]
    async with api.services.db.reading() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(PhysicianRow))) == 0
    same_day = {**ELIGIBLE_PHYSICIAN, "internet_consults_since": "2015-09-01"}
    assert (await api.client.post("/api/physicians", json=same_day,
                                  headers=api.admin)).status == 201


async def test_a_change_moving_either_date_is_checked_against_the_other(api):
    # Through the registry: the HTTP PATCH is the same call (its body parsing is tested in
    # test_physicians_api.py).
    created = await (await api.client.post("/api/physicians", json=ELIGIBLE_PHYSICIAN,
                                           headers=api.admin)).json()
    registry, admin = api.services.physicians, Actor("admin", "alice")
    with pytest.raises(InvalidInput) as refused:
        await registry.update(admin, created["id"],
                              PhysicianPatch(internet_consults_since=date(2015, 8, 31)))
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("internet_consults_since", MESSAGE)]
    with pytest.raises(InvalidInput) as refused:
        await registry.update(admin, created["id"],
                              PhysicianPatch(independent_practice_since=date(2023, 3, 2)))
    assert [e.field for e in refused.value.errors] == ["internet_consults_since"]
    async with api.services.db.reading() as session:
        row = await session.get_one(PhysicianRow, created["id"])
    assert (row.independent_practice_since.isoformat(),
            row.internet_consults_since.isoformat()) == ("2015-09-01", "2023-03-01")
    assert [e.action for e in await _audit(api)] == ["physician.created"]
    moved_together = await registry.update(admin, created["id"], PhysicianPatch(
        independent_practice_since=date(2023, 3, 1)))
    assert moved_together["independent_practice_since"] == "2023-03-01"


async def _audit(api):
    async with api.services.db.reading() as session:
        return (await session.scalars(sa.select(AuditEntryRow).order_by(AuditEntryRow.seq))).all()


async def test_a_patch_of_a_date_or_a_title_is_read_and_checked_over_http(api):
    created = await (await api.client.post("/api/physicians", json=ELIGIBLE_PHYSICIAN,
                                           headers=api.admin)).json()
    url = f"/api/physicians/{created['id']}"
    refused = await api.client.patch(url, json={"internet_consults_since": "2015-08-31"},
                                     headers=api.admin)
    assert refused.status == 422
    assert (await refused.json())["errors"] == [
        {"field": "internet_consults_since", "message": MESSAGE}]
    moved = await api.client.patch(url, json={"internet_consults_since": "2016-01-04",
                                              "title": "chief"}, headers=api.admin)
    assert moved.status == 200, await moved.text()
    assert ((await moved.json())["internet_consults_since"],
            (await moved.json())["title"]) == ("2016-01-04", "chief")
    nulls = await api.client.patch(url, json={"title": None, "name": None}, headers=api.admin)
    assert nulls.status == 422
    assert (await nulls.json())["errors"] == [{"field": "body", "message": (
        "Value error, name, title: leave the field out to keep it; null is not a value")}]
