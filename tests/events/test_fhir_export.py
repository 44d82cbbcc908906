"""The FHIR export validates against the R4B models of `fhir.resources` and carries the
codes hospital systems route on."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle

from server.kernel.models import AuditEntryRow
from server.records import fhir_export
from server.records.fhir_export import MediaItem

from .conftest import REFERRED, book, bring_into_call, end_through_api, make_physician

INTAKE = {"current": {"measured_on": "2026-11-19", "height_cm": 102.5, "weight_kg": 16.2,
                      "head_circumference_cm": 49.0},
          "previous_measurements": [{"measured_on": "2024-05-01", "height_cm": 85.0,
                                     "weight_kg": 11.5}],
          "father_height_cm": 175.0, "mother_height_cm": 162.0, "concerns": "长得比同龄人慢"}
COMPLETED_GROWTH = {"outcome": "completed", "diagnosis": "生长迟缓", "icd10": "R62.8",
                    "advice": "均衡饮食，保证睡眠", "follow_up": "3个月后复测身高",
                    "prescription": [{"drug": "vitamin D3 drops", "strength": "400 IU/drop",
                                      "dose": "1 drop", "route": "oral",
                                      "frequency": "once daily", "duration_days": 30,
                                      "quantity": "1 bottle",
                                      "long_supply_reason": "一瓶用满一个月"}]}
LOINC = "http://loinc.org"


def by_type(bundle: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


async def fhir(api, consult_id, headers):
    response = await api.client.get(f"/api/consults/{consult_id}/fhir", headers=headers)
    return response.status, (await response.json(content_type=None)) if response.status in (
        200, 403, 404) else await response.text()


async def ended_growth_consult(api):
    physician = await make_physician(api)
    booked = await book(api, physician["id"])
    intake = await api.client.put(f"/api/consults/{booked['id']}/intake", json=INTAKE,
                                  headers=api.bearer(booked["guardian_token"]))
    assert intake.status == 200, await intake.text()
    await bring_into_call(api, booked)
    await end_through_api(api, booked, COMPLETED_GROWTH)
    return physician, booked


async def test_a_completed_growth_consult_exports_as_a_valid_bundle_with_its_codes(api):
    physician, booked = await ended_growth_consult(api)
    status, bundle = await fhir(api, booked["id"], api.admin)
    assert status == 200
    Bundle.model_validate(bundle)  # raises on any invalid element
    assert bundle["type"] == "collection"
    resources = by_type(bundle)
    assert set(resources) == {"Encounter", "Patient", "RelatedPerson", "Practitioner",
                              "QuestionnaireResponse", "Observation", "Condition",
                              "MedicationRequest", "AuditEvent"}  # no Media: none exists

    (encounter,) = resources["Encounter"]
    assert encounter["class"]["code"] == "VR" and encounter["status"] == "finished"
    assert encounter["serviceType"]["coding"][0]["code"] == "growth_development"
    assert encounter["period"]["start"] and encounter["period"]["end"]
    assert [p["type"][0]["coding"][0]["code"] for p in encounter["participant"]] == [
        "ATND", "ESC"]
    (patient,) = resources["Patient"]
    assert (patient["gender"], patient["birthDate"]) == ("female", "2022-05-20")
    assert patient["identifier"][0]["value"] == "MRN-0001"
    assert patient["identifier"][0]["type"]["coding"][0]["code"] == "MR"
    (guardian,) = resources["RelatedPerson"]
    assert guardian["relationship"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH",
        "display": "mother"}
    (doctor,) = resources["Practitioner"]
    assert doctor["qualification"][0]["identifier"][0]["value"] == physician["licence_number"]

    (answers,) = resources["QuestionnaireResponse"]
    current = next(i for i in answers["item"] if i["linkId"] == "current")
    height = next(i for i in current["item"] if i["linkId"] == "current.height_cm")
    assert height["answer"] == [{"valueDecimal": 102.5}]

    observed = {(o["effectiveDateTime"], o["code"]["coding"][0]["code"]):
                o["valueQuantity"] for o in resources["Observation"]}
    assert all(o["code"]["coding"][0]["system"] == LOINC for o in resources["Observation"])
    assert observed[("2026-11-19", "8302-2")] == {  # standing height at 4 years
        "value": 102.5, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}
    assert observed[("2026-11-19", "29463-7")]["unit"] == "kg"
    assert observed[("2026-11-19", "9843-4")]["value"] == 49.0
    assert observed[("2026-11-19", "39156-5")]["value"] == 15.4  # 16.2 / 1.025²
    assert ("2024-05-01", "8306-3") in observed  # lying length at 1 year
    assert ("2024-05-01", "9843-4") not in observed  # not measured: not invented

    (condition,) = resources["Condition"]
    assert condition["code"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10",
                                              "code": "R62.8"}
    (medication,) = resources["MedicationRequest"]
    assert (medication["status"], medication["intent"]) == ("draft", "order")
    assert medication["dosageInstruction"][0]["route"]["coding"][0]["code"] == "26643006"
    assert "1 drop" in medication["dosageInstruction"][0]["text"]
    actions = [a["type"]["code"] for a in resources["AuditEvent"]]
    assert actions[0] == "consult.booked" and "consult.ended" in actions

    async with api.services.db.reading() as session:
        viewed = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "record.viewed",
            AuditEntryRow.consult_id == booked["id"]))).all()
    assert [v.details for v in viewed] == ['{"what":"fhir"}']


async def test_a_referral_exports_as_a_service_request_with_its_reference_and_priority(api):
    physician = await make_physician(api)
    booked = await book(api, physician["id"], specialty="dermatology")
    await bring_into_call(api, booked)
    ended = await end_through_api(api, booked, REFERRED)
    status, bundle = await fhir(api, booked["id"], api.bearer(booked["physician_token"]))
    assert status == 200
    Bundle.model_validate(bundle)
    (request,) = by_type(bundle)["ServiceRequest"]
    assert (request["intent"], request["priority"], request["status"]) == (
        "order", "urgent", "active")
    assert request["identifier"][0]["value"] == ended["outcome_detail"]["referral_reference"]
    assert request["performerType"]["coding"][0]["code"] == "paediatric_dermatology"
    assert request["code"]["coding"][0]["code"] == "3457005"
    assert request["patientInstruction"] == "请携带既往用药"
    assert "Condition" not in by_type(bundle) and "MedicationRequest" not in by_type(bundle)


async def test_a_booked_consult_exports_as_a_planned_encounter_and_access_is_checked(api):
    physician = await make_physician(api)
    booked = await book(api, physician["id"])
    status, bundle = await fhir(api, booked["id"], api.auditor)
    assert status == 200
    Bundle.model_validate(bundle)
    (encounter,) = by_type(bundle)["Encounter"]
    assert encounter["status"] == "planned" and "period" not in encounter
    assert (await fhir(api, booked["id"], api.bearer(booked["guardian_token"])))[0] == 403
    assert (await fhir(api, "no-such-consult", api.admin))[0] == 404


async def test_media_that_a_module_registers_becomes_valid_media_resources(api):
    physician = await make_physician(api)
    booked = await book(api, physician["id"], specialty="dermatology")

    async def photos(session, record):
        return [MediaItem(item_id="a" * 32, kind="photo", content_type="image/jpeg",
                          url=f"/api/consults/{record.consult.id}/photos/{'a' * 32}",
                          created_at=datetime(2026, 11, 20, 2, 40, tzinfo=UTC), size=123456,
                          sha256="b" * 64, body_site="左前臂 left forearm",
                          operator_role="guardian")]

    fhir_export.register_media_source(photos)
    try:
        status, bundle = await fhir(api, booked["id"], api.admin)
    finally:
        fhir_export._MEDIA_SOURCES.remove(photos)
    assert status == 200
    Bundle.model_validate(bundle)
    (media,) = by_type(bundle)["Media"]
    assert media["type"]["coding"][0]["code"] == "image"
    assert media["content"]["contentType"] == "image/jpeg" and media["bodySite"]["text"]
