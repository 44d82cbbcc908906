"""Growth assessment from the guardian's intake, as the physician's page fetches it."""

GROWTH_INTAKE = {
    "current": {"measured_on": "2026-11-18", "height_cm": 99.5, "weight_kg": 15.2},
    "previous_measurements": [
        {"measured_on": "2025-11-10", "height_cm": 92.4, "weight_kg": 13.6},
        {"measured_on": "2025-05-12", "height_cm": 88.9, "weight_kg": 12.8},
        {"measured_on": "2024-11-15", "height_cm": 85.0, "weight_kg": 12.0},
    ],
    "father_height_cm": 175.0, "mother_height_cm": 162.0,
}


async def submit(api, booked, body):
    return await api.client.put(f"/api/consults/{booked['consult']['id']}/intake", json=body,
                                headers=api.bearer(booked["guardian_token"]))


async def test_the_physician_sees_z_scores_velocity_target_and_charts(api, booked_consult):
    booked = await booked_consult()
    assert (await submit(api, booked, GROWTH_INTAKE)).status == 200
    response = await api.client.get(f"/api/consults/{booked['consult']['id']}/growth",
                                    headers=api.bearer(booked["physician_token"]))
    assert response.status == 200, await response.text()
    report = await response.json()
    latest = report["assessment"]["measurements"][-1]
    lhfa = latest["results"]["lhfa"]
    # WHO 2006 girls' height-for-age at 1643 days: L=1, M=106.1634, S=0.04272.
    assert lhfa["reference"]["lms"] == {"L": 1.0, "M": 106.1634, "S": 0.04272}
    assert lhfa["z"] == round((99.5 / 106.1634 - 1) / 0.04272, 2) == -1.47
    assert len(report["assessment"]["measurements"]) == 4
    assert report["assessment"]["target"]["target_cm"] == (175 + 162 - 13) / 2
    assert report["assessment"]["velocities"], "velocity from the past measurements"
    assert set(report["charts"]) == {"lhfa", "wfa", "bmifa", "hcfa", "wfh"}
    assert report["charts"]["lhfa"]["curves"]


async def test_a_guardian_cannot_read_the_assessment(api, booked_consult):
    booked = await booked_consult()
    await submit(api, booked, GROWTH_INTAKE)
    response = await api.client.get(f"/api/consults/{booked['consult']['id']}/growth",
                                    headers=api.bearer(booked["guardian_token"]))
    assert response.status == 403


async def test_an_implausible_height_is_marked_for_re_measurement_not_scored(
        api, booked_consult):
    # A past height from the health booklet is kept and marked; a current one is refused at
    # entry (tests/api/test_intake_plausibility.py).
    booked = await booked_consult()
    tall = {**GROWTH_INTAKE, "previous_measurements": [
        {"measured_on": "2025-11-10", "height_cm": 150.0, "weight_kg": 13.6}]}
    assert (await submit(api, booked, tall)).status == 200
    report = await (await api.client.get(f"/api/consults/{booked['consult']['id']}/growth",
                                         headers=api.bearer(booked["physician_token"]))).json()
    lhfa = report["assessment"]["measurements"][0]["results"]["lhfa"]
    assert lhfa["status"] == "implausible" and lhfa["z"] is None


async def test_no_intake_yet_is_a_clear_404(api, booked_consult):
    booked = await booked_consult()
    response = await api.client.get(f"/api/consults/{booked['consult']['id']}/growth",
                                    headers=api.bearer(booked["physician_token"]))
    assert response.status == 404 and "intake" in (await response.json())["detail"]
