"""SHOUZHEN_PILOT_START / SHOUZHEN_PILOT_END: a consult outside the pilot's days (hospital
calendar) is refused at booking, and the refusal is audited."""

import json
from datetime import date

import pytest
import sqlalchemy as sa

from server.kernel.models import AuditEntryRow, ConsultRow

from ..conftest import ELIGIBLE_PHYSICIAN, booking_for


@pytest.fixture
def settings(settings):
    """The shared settings with the pilot ending on the fixed clock's day (2026-11-20, the
    clock reads 10:00 in Beijing); the shared `api` fixture is built from these."""
    return settings.replace(pilot_end=date(2026, 11, 20))


async def test_a_consult_after_the_pilots_last_day_is_refused_and_audited(api):
    created = await (await api.client.post("/api/physicians", json=ELIGIBLE_PHYSICIAN,
                                           headers=api.admin)).json()
    assert (await api.client.post(f"/api/physicians/{created['id']}/whitelist-status",
                                  json={"status": "active", "reason": "ok"},
                                  headers=api.admin)).status == 200
    # 23:30 in Beijing on the last day: accepted. 00:00 the next day (16:00 UTC): refused.
    last_evening = booking_for(created["id"], scheduled_start="2026-11-20T15:30:00+00:00")
    assert (await api.client.post("/api/consults", json=last_evening,
                                  headers=api.admin)).status == 201
    next_day = booking_for(created["id"], scheduled_start="2026-11-20T16:00:00+00:00")
    response = await api.client.post("/api/consults", json=next_day, headers=api.admin)
    assert response.status == 422
    assert (await response.json())["errors"] == [{
        "field": "scheduled_start",
        "message": "the pilot ended on 2026-11-20: no consult can be held after it"}]
    async with api.services.db.reading() as session:
        booked = await session.scalar(sa.select(sa.func.count()).select_from(ConsultRow))
        refused = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "consult.booking_refused"))).all()
    assert booked == 1
    assert len(refused) == 1 and refused[0].actor_id == "alice"
    details = json.loads(refused[0].details)
    assert details["errors"] == [{"field": "scheduled_start", "message": (
        "the pilot ended on 2026-11-20: no consult can be held after it")}]
    assert (details["physician_id"], details["specialty"]) == (created["id"],
                                                               "growth_development")
