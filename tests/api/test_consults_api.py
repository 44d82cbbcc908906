import sqlalchemy as sa

from server.clinical.consult_lifecycle import ConsultTrigger
from server.clinical.consults import apply_transition, load_consult
from server.kernel.models import AuditEntryRow, ConsultRow

from ..conftest import booking_for


async def count_consults(api):
    async with api.services.db.reading() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(ConsultRow))).scalar()


async def test_booking_returns_two_role_scoped_links_that_expire_with_the_window(
        api, booked_consult):
    booked = await booked_consult()
    assert booked["consult"]["state"] == "booked"
    assert booked["join_links"]["expires_at"] == "2026-11-20T03:30:00+00:00"
    me = await (await api.client.get("/api/session",
                                     headers=api.bearer(booked["guardian_token"]))).json()
    assert me["role"] == "guardian" and me["consult_id"] == booked["consult"]["id"]
    doc = await (await api.client.get("/api/session",
                                      headers=api.bearer(booked["physician_token"]))).json()
    assert doc["role"] == "physician"


async def test_booking_refuses_a_specialty_outside_the_pilot(api, whitelisted_physician):
    physician = await whitelisted_physician()
    response = await api.client.post("/api/consults", headers=api.admin, json=booking_for(
        physician["id"], specialty="cardiology"))
    assert response.status == 422
    assert (await response.json())["code"] == "specialty_not_in_pilot"
    assert await count_consults(api) == 0


async def test_booking_refuses_a_child_of_18(api, whitelisted_physician):
    physician = await whitelisted_physician()
    body = booking_for(physician["id"])
    body["child"] = {**body["child"], "birth_date": "2008-11-20"}
    response = await api.client.post("/api/consults", headers=api.admin, json=body)
    assert response.status == 422
    assert "18" in (await response.json())["errors"][0]["message"]
    body["child"]["birth_date"] = "2008-11-21"
    assert (await api.client.post("/api/consults", headers=api.admin, json=body)).status == 201


async def test_booking_refuses_impossible_dates_and_bad_phone_numbers(api, whitelisted_physician):
    physician = await whitelisted_physician()
    body = booking_for(physician["id"])
    body["child"] = {**body["child"], "birth_date": "2022-02-30"}
    body["guardian"] = {**body["guardian"], "phone": "12345"}
    response = await api.client.post("/api/consults", headers=api.admin, json=body)
    fields = {e["field"] for e in (await response.json())["errors"]}
    assert response.status == 422 and {"child.birth_date", "guardian.phone"} <= fields


async def test_booking_a_suspended_physician_is_refused_with_reasons(api, whitelisted_physician):
    physician = await whitelisted_physician()
    await api.client.post(f"/api/physicians/{physician['id']}/whitelist-status",
                          json={"status": "suspended", "reason": "review"}, headers=api.admin)
    response = await api.client.post("/api/consults", headers=api.admin,
                                     json=booking_for(physician["id"]))
    problem = await response.json()
    assert response.status == 409 and problem["reasons"] == ["suspended"]
    assert await count_consults(api) == 0


async def test_booking_an_unknown_physician_is_not_found(api):
    response = await api.client.post("/api/consults", headers=api.admin,
                                     json=booking_for("no-such-physician"))
    assert response.status == 404


async def test_the_same_patient_id_links_visits_to_one_child(api, booked_consult):
    first = await booked_consult()
    second = await api.client.post("/api/consults", headers=api.admin, json=booking_for(
        first["consult"]["physician"]["id"]))
    assert (await second.json())["consult"]["child"]["id"] == first["consult"]["child"]["id"]
    body = booking_for(first["consult"]["physician"]["id"])
    body["child"] = {**body["child"], "sex": "male"}
    assert (await api.client.post("/api/consults", headers=api.admin, json=body)).status == 409


async def test_guardian_sees_their_consult_but_not_another(api, booked_consult):
    mine, other = await booked_consult(), None
    other_response = await api.client.post("/api/consults", headers=api.admin, json=booking_for(
        mine["consult"]["physician"]["id"], child={
            "name": "王二", "sex": "male", "birth_date": "2020-01-01"}))
    other = await other_response.json()
    headers = api.bearer(mine["guardian_token"])
    own = await api.client.get(f"/api/consults/{mine['consult']['id']}", headers=headers)
    view = await own.json()
    assert own.status == 200 and "phone" not in view["guardian"]
    refused = await api.client.get(f"/api/consults/{other['consult']['id']}", headers=headers)
    assert refused.status == 403
    async with api.services.db.reading() as session:
        entry = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "access.refused"))).one()
    assert entry.actor_role == "guardian" and entry.consult_id == other["consult"]["id"]


async def test_a_tampered_token_is_refused(api, booked_consult):
    booked = await booked_consult()
    token = booked["guardian_token"]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = await api.client.get(f"/api/consults/{booked['consult']['id']}",
                                    headers=api.bearer(tampered))
    assert response.status == 401 and "tampered" in (await response.json())["detail"]


async def test_links_stop_working_when_the_window_ends(api, booked_consult, clock):
    from datetime import timedelta
    booked = await booked_consult()
    clock.advance(timedelta(hours=2))
    response = await api.client.get(f"/api/consults/{booked['consult']['id']}",
                                    headers=api.bearer(booked["guardian_token"]))
    assert response.status == 401 and "expired" in (await response.json())["detail"]


async def test_cancel_then_cancel_again_is_a_conflict(api, booked_consult):
    booked = await booked_consult()
    url = f"/api/consults/{booked['consult']['id']}/cancel"
    first = await api.client.post(url, json={"reason": "family asked"}, headers=api.admin)
    assert first.status == 200 and (await first.json())["state"] == "cancelled"
    second = await api.client.post(url, json={"reason": "again"}, headers=api.admin)
    assert second.status == 409
    assert (await second.json())["code"] == "transition_not_allowed"


async def test_guardian_cannot_cancel(api, booked_consult):
    booked = await booked_consult()
    response = await api.client.post(f"/api/consults/{booked['consult']['id']}/cancel",
                                     json={"reason": "x"},
                                     headers=api.bearer(booked["guardian_token"]))
    assert response.status == 403


GROWTH_INTAKE = {"current": {"measured_on": "2026-11-18", "height_cm": 99.5, "weight_kg": 15.2},
                 "father_height_cm": 175.0, "mother_height_cm": 162.0}


async def test_guardian_submits_and_corrects_the_intake_before_the_call(api, booked_consult):
    booked = await booked_consult()
    url = f"/api/consults/{booked['consult']['id']}/intake"
    headers = api.bearer(booked["guardian_token"])
    first = await api.client.put(url, json=GROWTH_INTAKE, headers=headers)
    assert first.status == 200 and (await first.json())["revision"] == 1
    corrected = {**GROWTH_INTAKE, "concerns": "比同龄人矮"}
    second = await (await api.client.put(url, json=corrected, headers=headers)).json()
    assert second["revision"] == 2 and second["data"]["concerns"] == "比同龄人矮"
    seen = await (await api.client.get(url, headers=api.bearer(booked["physician_token"]))).json()
    assert seen["data"]["current"]["height_cm"] == 99.5


async def test_physician_cannot_write_the_intake(api, booked_consult):
    booked = await booked_consult()
    response = await api.client.put(f"/api/consults/{booked['consult']['id']}/intake",
                                    json=GROWTH_INTAKE,
                                    headers=api.bearer(booked["physician_token"]))
    assert response.status == 403


async def test_the_intake_is_frozen_once_the_call_begins(api, booked_consult):
    booked = await booked_consult()
    consult_id = booked["consult"]["id"]
    from server.kernel.audit_log import Actor
    async with api.services.db.transaction() as session:
        consult = await load_consult(session, consult_id, for_update=True)
        for trigger in (ConsultTrigger.GUARDIAN_JOINED, ConsultTrigger.ADMITTED):
            await apply_transition(session, consult, trigger, Actor.system(),
                                   api.services.clock.now())
    response = await api.client.put(f"/api/consults/{consult_id}/intake", json=GROWTH_INTAKE,
                                    headers=api.bearer(booked["guardian_token"]))
    assert response.status == 409


async def test_recording_notice_acceptance_is_recorded_once(api, booked_consult):
    booked = await booked_consult()
    url = f"/api/consults/{booked['consult']['id']}/recording-notice"
    headers = api.bearer(booked["guardian_token"])
    first = await (await api.client.post(url, headers=headers)).json()
    second = await (await api.client.post(url, headers=headers)).json()
    assert first["recording_notice_accepted_at"] == second["recording_notice_accepted_at"]
    async with api.services.db.reading() as session:
        accepted = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "consult.recording_notice_accepted"))).all()
    assert len(accepted) == 1


async def test_a_malformed_consult_id_is_refused_and_the_refusal_still_recorded(
        api, booked_consult):
    booked = await booked_consult()
    response = await api.client.get(f"/api/consults/{'x' * 60}/intake",
                                    headers=api.bearer(booked["physician_token"]))
    assert response.status == 403
    async with api.services.db.reading() as session:
        entry = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "access.refused"))).one()
    assert entry.consult_id is None and "x" * 60 in entry.details
