"""Helpers for API tests: an eligible whitelisted physician and a booked consult."""

from __future__ import annotations

from typing import Any

import pytest

ELIGIBLE_PHYSICIAN = {
    "licence_number": "110101198001", "name": "王医生", "department": "儿科",
    "title": "attending", "independent_practice_since": "2015-09-01",
    "internet_consults_since": "2023-03-01", "training_exam_passed_on": "2025-06-15",
    "specialties": ["growth_development", "nutrition", "dermatology"],
}


def booking_for(physician_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "physician_id": physician_id, "specialty": "growth_development",
        "child": {"name": "李小宝", "sex": "female", "birth_date": "2022-05-20",
                  "patient_id": "MRN-0001"},
        "guardian": {"name": "李妈妈", "relationship": "mother", "phone": "13800138000"},
        "scheduled_start": "2026-11-20T02:30:00+00:00",
    }
    body.update(changes)
    return body


@pytest.fixture
def whitelisted_physician(api):
    async def make(**changes: Any) -> dict[str, Any]:
        body = {**ELIGIBLE_PHYSICIAN, **changes}
        created = await api.client.post("/api/physicians", json=body, headers=api.admin)
        assert created.status == 201, await created.text()
        physician = await created.json()
        listed = await api.client.post(
            f"/api/physicians/{physician['id']}/whitelist-status",
            json={"status": "active", "reason": "passed review"}, headers=api.admin)
        assert listed.status == 200, await listed.text()
        return await listed.json()

    return make


@pytest.fixture
def booked_consult(api, whitelisted_physician):
    async def make(**changes: Any) -> dict[str, Any]:
        physician = await whitelisted_physician()
        response = await api.client.post("/api/consults", json=booking_for(
            physician["id"], **changes), headers=api.admin)
        assert response.status == 201, await response.text()
        booked = await response.json()
        links = booked["join_links"]
        booked["physician_token"] = links["physician"].split("#", 1)[1]
        booked["guardian_token"] = links["guardian"].split("#", 1)[1]
        return booked

    return make
