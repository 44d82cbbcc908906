"""The hospital's calendar across midnight UTC: at 23:30 UTC it is 07:30 the next day in
Beijing, and every calendar rule reads that day."""

from datetime import UTC, datetime

import pytest

from server.kernel.clock import Clock

from ..conftest import booking_for


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=datetime(2026, 11, 20, 23, 30, tzinfo=UTC))  # 07:30 on 21 Nov, Beijing


def child(birth_date: str) -> dict:
    return {"name": "李小宝", "sex": "female", "birth_date": birth_date}


async def test_at_07_30_in_beijing_the_day_is_beijings(api, whitelisted_physician):
    physician = await whitelisted_physician()
    start = "2026-11-20T23:45:00+00:00"  # 07:45 on 21 Nov in Beijing

    # Born today in Beijing: bookable, and measured today.
    newborn = await api.client.post("/api/consults", headers=api.admin, json=booking_for(
        physician["id"], child=child("2026-11-21"), scheduled_start=start))
    assert newborn.status == 201, await newborn.text()
    booked = await newborn.json()
    token = booked["join_links"]["guardian"].split("#", 1)[1]
    intake = await api.client.put(
        f"/api/consults/{booked['consult']['id']}/intake", headers=api.bearer(token),
        json={"current": {"measured_on": "2026-11-21", "height_cm": 50.0, "weight_kg": 3.3,
                          "head_circumference_cm": 34.5}})
    assert intake.status == 200, await intake.text()

    # 18 today in Beijing: refused.
    adult = await api.client.post("/api/consults", headers=api.admin, json=booking_for(
        physician["id"], child=child("2008-11-21"), scheduled_start=start))
    assert adult.status == 422
    assert (await adult.json())["errors"][0]["field"] == "child.birth_date"
    # The physician's page shows eligibility as of Beijing's day.
    shown = await (await api.client.get(f"/api/physicians/{physician['id']}",
                                        headers=api.admin)).json()
    assert shown["eligibility"]["as_of"] == "2026-11-21"
