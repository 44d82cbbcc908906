"""The guardian's measurements are checked against the child's age and sex when entered: a
current value beyond the WHO's implausibility flags is refused with a message, a weight in 斤
is asked about (and may be confirmed), a preterm baby's small values are admitted."""

import json

import sqlalchemy as sa

from server.kernel.models import AuditEntryRow, IntakeRow


def child(birth_date: str, sex: str = "male") -> dict:
    return {"name": "李小宝", "sex": sex, "birth_date": birth_date}


async def submit(api, booked, body):
    return await api.client.put(f"/api/consults/{booked['consult']['id']}/intake", json=body,
                                headers=api.bearer(booked["guardian_token"]))


async def stored(api, booked):
    async with api.services.db.reading() as session:
        return await session.get(IntakeRow, booked["consult"]["id"])


async def test_a_95_kg_one_year_old_is_refused_with_a_message(api, booked_consult):
    booked = await booked_consult(child=child("2025-11-20"))
    response = await submit(api, booked, {"current": {
        "measured_on": "2026-11-20", "height_cm": 75.0, "weight_kg": 95.0,
        "head_circumference_cm": 46.0}})
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"] == [{"field": "current.weight_kg", "message": (
        "95 kg is not plausible at 12 m: Weight-for-age z = +63.13 (WHO flags z < -6 or > +5); "
        "measure again and check the unit")}]
    assert await stored(api, booked) is None


async def test_a_weight_in_jin_is_asked_about_and_can_be_confirmed(api, booked_consult):
    booked = await booked_consult(child=child("2014-11-01"))
    current = {"measured_on": "2026-11-20", "height_cm": 150.0, "weight_kg": 80.0}
    response = await submit(api, booked, {"current": current})
    assert response.status == 422
    assert (await response.json())["errors"] == [{"field": "current.weight_kg", "message": (
        "80 looks like 斤 (80 斤 = 40 kg); give it in kg, or confirm that it is 80 kg")}]
    assert (await submit(api, booked, {"current": {**current, "weight_kg": 40.0}})).status == 200
    confirmed = await submit(api, booked, {"current": {**current, "weight_kg_confirmed": True}})
    assert confirmed.status == 200, await confirmed.text()
    row = await stored(api, booked)
    assert row.revision == 2 and row.data["current"]["weight_kg_confirmed"] is True


async def test_a_preterm_babys_length_and_head_below_35_and_25_cm_are_admitted(
        api, booked_consult):
    booked = await booked_consult(child=child("2026-11-06"))  # 2 weeks old, born at 28 weeks
    body = {"current": {"measured_on": "2026-11-20", "height_cm": 34.0, "weight_kg": 0.9,
                        "head_circumference_cm": 24.0},
            "birth": {"gestational_age_weeks": 28, "birth_weight_kg": 0.8,
                      "birth_length_cm": 33.0}}
    response = await submit(api, booked, body)
    assert response.status == 200, await response.text()
    growth = await (await api.client.get(f"/api/consults/{booked['consult']['id']}/growth",
                                         headers=api.bearer(booked["physician_token"]))).json()
    latest = growth["assessment"]["measurements"][-1]
    assert latest["age_basis"] == "corrected" and latest["corrected_age_days"] == -70
    assert growth["assessment"]["age_correction"]["correction_weeks"] == 12
    async with api.services.db.reading() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(IntakeRow))) == 1


async def test_a_refused_intake_is_audited_with_what_was_asked(api, booked_consult):
    booked = await booked_consult(child=child("2014-11-01"))
    current = {"measured_on": "2026-11-20", "height_cm": 150.0, "weight_kg": 80.0}
    assert (await submit(api, booked, {"current": current})).status == 422
    async with api.services.db.reading() as session:
        entries = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action.in_(("intake.refused", "intake.submitted"))))).all()
    assert [(e.action, e.consult_id, e.actor_role) for e in entries] == [
        ("intake.refused", booked["consult"]["id"], "guardian")]
    assert json.loads(entries[0].details) == {"errors": [{"field": "current.weight_kg",
        "message": "80 looks like 斤 (80 斤 = 40 kg); give it in kg, or confirm that it is "
                   "80 kg"}]}
