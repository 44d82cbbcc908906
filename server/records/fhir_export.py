"""A consult as a FHIR R4 (R4B) Bundle, for the hospital's record systems.

FHIR version: **R4B (4.3.0)**. The `fhir.resources` 8 package validates R5 by default and
ships R4B and STU3 beside it, but no plain R4 module. R4B is R4 with a few non-clinical
resources changed (medication definition, subscriptions, evidence); every resource used here
— Encounter, Patient, RelatedPerson, Practitioner, QuestionnaireResponse, Observation,
Condition, ServiceRequest, MedicationRequest, Media, AuditEvent — is unchanged from R4, so
the JSON is valid R4 and is validated in the tests against the R4B models.

The bundle is a `collection` (a `document` would need a Composition and attestation that
shouzhen does not make). Resource ids are UUIDv5 of the consult and the item, so exporting
the same consult twice gives the same ids and a receiver can upsert.

Codes: HL7 v3 ActCode `VR` (virtual encounter), v3 RoleCode for the guardian's relationship,
v3 ParticipationType (`ATND` the physician, `ESC` the guardian escorting the child), LOINC
for body measurements with UCUM units, ICD-10 for a diagnosis given with one, SNOMED CT for
the referral and the routes of administration. shouzhen's own vocabularies (specialty,
department, referral reason, audit action) use code systems under `SYSTEM_BASE`.

Photos and recordings become Media resources when a module registers a `MediaSource` that
returns rows it actually holds; nothing is invented when there are none.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from server.clinical.booking import age_in_whole_years
from server.clinical.consults import ConsultRecord, load_record
from server.clinical.referral import DEPARTMENTS, REASON_NAMES
from server.clinical.specialties import SPECIALTY_NAMES, Specialty
from server.kernel import audit_log
from server.kernel.audit_log import AuditEntry

FHIR_VERSION = "4.3.0"  # R4B
SYSTEM_BASE = "https://shouzhen.local/fhir"
_ID_NAMESPACE = uuid.UUID("6a1f0b8e-2f4c-5d2a-9a51-7f1c0e3d9b42")

V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"

# Encounter.status from the consult's lifecycle state. R4 Encounter has no "no-show";
# a family that never came is a cancelled encounter.
ENCOUNTER_STATUS = {"booked": "planned", "waiting": "arrived", "in_call": "in-progress",
                    "ended": "finished", "archived": "finished", "cancelled": "cancelled",
                    "no_show": "cancelled"}

# HL7 v3 RoleCode for how the accompanying guardian is related to the child.
GUARDIAN_ROLE = {"mother": ("MTH", "mother"), "father": ("FTH", "father"),
                 "grandmother": ("GRMTH", "grandmother"),
                 "grandfather": ("GRFTH", "grandfather"),
                 "legal_guardian": ("GUARD", "guardian"),
                 "other_relative": ("FAMMEMB", "family member")}

TITLE_NAMES = {"resident": "住院医师 Resident physician",
               "attending": "主治医师 Attending physician",
               "associate_chief": "副主任医师 Associate chief physician",
               "chief": "主任医师 Chief physician"}

# Referral urgency → ServiceRequest.priority.
REFERRAL_PRIORITY = {"routine": "routine", "within_24h": "urgent", "emergency": "stat"}

# SNOMED CT route-of-administration qualifiers (the FHIR example value set).
ROUTES = {"oral": ("26643006", "Oral route"), "topical": ("6064005", "Topical route"),
          "inhaled": ("447694001", "Respiratory tract route"),
          "nasal": ("46713006", "Nasal route"), "ophthalmic": ("54485002", "Ophthalmic route"),
          "otic": ("10547007", "Otic route"), "rectal": ("37161004", "Rectal route"),
          "transdermal": ("45890007", "Transdermal route")}

# Measurements (LOINC code, display, UCUM unit).
HEIGHT_STANDING = ("8302-2", "Body height", "cm")
LENGTH_LYING = ("8306-3", "Body height --lying", "cm")
WEIGHT = ("29463-7", "Body weight", "kg")
HEAD_CIRCUMFERENCE = ("9843-4", "Head Occipital-frontal circumference", "cm")
BMI = ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2")
RECUMBENT_UNDER_YEARS = 2  # the intake's default: lying length under two years of age

# Audit actions summarised as AuditEvents: the clinical course, not presence or media noise.
AUDITED_COURSE = re.compile(r"^(consult\.|intake\.submitted$|adverse_event\.)")


# -- media: filled in by the modules that hold photos and recordings ------------------------


@dataclass(frozen=True)
class MediaItem:
    """A photo or recording that exists for the consult, as its module describes it."""

    item_id: str
    kind: Literal["photo", "video", "audio"]
    content_type: str
    url: str  # where an authorised client fetches it (an API path)
    created_at: datetime
    size: int | None = None
    sha256: str | None = None  # hex digest of the stored bytes
    title: str | None = None
    body_site: str | None = None
    operator_role: Literal["physician", "guardian"] | None = None
    duration_seconds: float | None = None


MediaSource = Callable[[AsyncSession, ConsultRecord], Awaitable[list[MediaItem]]]
_MEDIA_SOURCES: list[MediaSource] = []


def register_media_source(source: MediaSource) -> MediaSource:
    """For `recorder/` and the photo module: list the media a consult really has."""
    if source not in _MEDIA_SOURCES:
        _MEDIA_SOURCES.append(source)
    return source


# -- the facts the bundle is built from ----------------------------------------------------


@dataclass(frozen=True)
class ExportFacts:
    record: ConsultRecord
    audit_entries: list[AuditEntry]
    media: list[MediaItem] = field(default_factory=list)
    generated_at: datetime | None = None


async def gather_facts(session: AsyncSession, consult_id: str, *,
                       now: datetime) -> ExportFacts:
    record = await load_record(session, consult_id)
    entries = [e async for e in audit_log.iter_entries(session, consult_id=consult_id)
               if AUDITED_COURSE.match(e.action)]
    media: list[MediaItem] = []
    for source in _MEDIA_SOURCES:
        media.extend(await source(session, record))
    return ExportFacts(record, entries, media, now)


# -- building: pure ------------------------------------------------------------------------


def _id(consult_id: str, *parts: object) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join([consult_id, *map(str, parts)])))


def _ref(resource_id: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"urn:uuid:{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def _concept(text: str, system: str | None = None, code: str | None = None,
             display: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if system and code:
        coding = {"system": system, "code": code}
        if display:
            coding["display"] = display
        concept["coding"] = [coding]
    return concept


def _local(kind: str) -> str:
    return f"{SYSTEM_BASE}/CodeSystem/{kind}"


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _compact(value: Any) -> Any:
    """Drop None, empty strings, lists and objects: FHIR forbids empty values."""
    if isinstance(value, dict):
        kept = {k: _compact(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        kept_items = [_compact(v) for v in value]
        return [v for v in kept_items if v not in (None, "", [], {})]
    if isinstance(value, str):
        return value.strip()
    return value


@dataclass
class _Ids:
    encounter: str
    patient: str
    guardian: str
    practitioner: str
    questionnaire_response: str
    condition: str
    service_request: str


def build_bundle(facts: ExportFacts) -> dict[str, Any]:
    record = facts.record
    consult = record.consult
    cid = consult.id
    ids = _Ids(encounter=_id(cid, "encounter"), patient=_id(cid, "patient", record.child.id),
               guardian=_id(cid, "guardian"), practitioner=_id(cid, "practitioner",
                                                                record.physician.id),
               questionnaire_response=_id(cid, "intake"), condition=_id(cid, "condition"),
               service_request=_id(cid, "referral"))
    resources: list[tuple[str, dict[str, Any]]] = [
        (ids.encounter, _encounter(record, ids)),
        (ids.patient, _patient(record)),
        (ids.guardian, _related_person(record, ids)),
        (ids.practitioner, _practitioner(record)),
    ]
    if record.intake is not None:
        resources.append((ids.questionnaire_response, _questionnaire_response(record, ids)))
        resources.extend(_observations(record, ids))
    outcome = record.outcome
    if outcome is not None:
        data = outcome.data
        if outcome.outcome == "completed":
            resources.append((ids.condition, _condition(record, ids, data)))
            for n, item in enumerate(data.get("prescription") or []):
                resources.append(_medication_request(record, ids, n, item))
        referral = data.get("referral")
        if isinstance(referral, dict):
            resources.append((ids.service_request,
                              _service_request(record, ids, referral)))
    resources.extend(_media(record, ids, item) for item in facts.media)
    resources.extend(_audit_event(record, ids, entry) for entry in facts.audit_entries)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": _id(cid, "bundle"),
        "meta": {"tag": [{"system": _local("fhir-version"), "code": FHIR_VERSION}]},
        "identifier": {"system": f"{SYSTEM_BASE}/NamingSystem/consult", "value": cid},
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{rid}", "resource": {"id": rid, **_compact(res)}}
                  for rid, res in resources],
    }
    if facts.generated_at is not None:
        bundle["timestamp"] = facts.generated_at.isoformat()
    return bundle


def _encounter(record: ConsultRecord, ids: _Ids) -> dict[str, Any]:
    c = record.consult
    specialty = Specialty(c.specialty)
    zh, en = SPECIALTY_NAMES[specialty]
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": f"{SYSTEM_BASE}/NamingSystem/consult", "value": c.id}],
        "status": ENCOUNTER_STATUS[c.state],
        "class": {"system": V3_ACT_CODE, "code": "VR", "display": "virtual"},
        "serviceType": _concept(f"{zh} {en}", _local("specialty"), specialty.value, en),
        "subject": _ref(ids.patient, record.child.name),
        "participant": [
            {"type": [_concept("attender", V3_PARTICIPATION, "ATND", "attender")],
             "individual": _ref(ids.practitioner, record.physician.name)},
            {"type": [_concept("escort", V3_PARTICIPATION, "ESC", "escort")],
             "individual": _ref(ids.guardian, c.guardian_name)},
        ],
        "period": {"start": _iso(c.admitted_at), "end": _iso(c.ended_at)},
    }
    if record.outcome is not None and record.outcome.outcome == "completed":
        encounter["diagnosis"] = [{"condition": _ref(ids.condition)}]
    return encounter


def _patient(record: ConsultRecord) -> dict[str, Any]:
    child = record.child
    identifiers = []
    if child.hospital_patient_id:
        identifiers.append({"use": "usual",
                            "type": _concept("Medical record number", V2_IDENTIFIER_TYPE, "MR",
                                             "Medical record number"),
                            "system": f"{SYSTEM_BASE}/NamingSystem/hospital-patient-id",
                            "value": child.hospital_patient_id})
    return {"resourceType": "Patient", "identifier": identifiers,
            # Chinese names are not split into family/given: compound surnames make that a
            # guess, and the text is what the hospital prints.
            "name": [{"use": "official", "text": child.name}],
            "gender": child.sex, "birthDate": child.birth_date.isoformat()}


def _related_person(record: ConsultRecord, ids: _Ids) -> dict[str, Any]:
    c = record.consult
    code, display = GUARDIAN_ROLE[c.guardian_relationship]
    return {"resourceType": "RelatedPerson", "patient": _ref(ids.patient),
            "relationship": [_concept(display, V3_ROLE_CODE, code, display)],
            "name": [{"text": c.guardian_name}],
            "telecom": [{"system": "phone", "value": c.guardian_phone, "use": "mobile"}]}


def _practitioner(record: ConsultRecord) -> dict[str, Any]:
    doc = record.physician
    licence = {"system": f"{SYSTEM_BASE}/NamingSystem/physician-licence",
               "value": doc.licence_number}
    return {"resourceType": "Practitioner", "identifier": [licence],
            "name": [{"text": doc.name}],
            "qualification": [
                {"identifier": [licence],
                 "code": _concept("医师执业证书 Physician practising certificate",
                                  _local("qualification"), "practising_licence")},
                {"code": _concept(TITLE_NAMES.get(doc.title, doc.title), _local("title"),
                                  doc.title)},
            ]}


def questionnaire_items(data: Any, path: str = "") -> list[dict[str, Any]]:
    """The intake's JSON as QuestionnaireResponse items: objects and lists become groups,
    values become answers; link ids are the JSON paths (`current.height_cm`)."""
    items: list[dict[str, Any]] = []
    entries = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in entries:
        link = f"{path}.{key}" if path else str(key)
        text = str(key).replace("_", " ") if isinstance(key, str) else f"#{key + 1}"
        if isinstance(value, (dict, list)):
            children = questionnaire_items(value, link)
            if children:
                items.append({"linkId": link, "text": text, "item": children})
        else:
            answer = _answer(value)
            if answer is not None:
                items.append({"linkId": link, "text": text, "answer": [answer]})
    return items


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _answer(value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    text = str(value)
    return {"valueDate": text} if _DATE.match(text) else {"valueString": text}


def _questionnaire_response(record: ConsultRecord, ids: _Ids) -> dict[str, Any]:
    intake = record.intake
    assert intake is not None
    return {"resourceType": "QuestionnaireResponse",
            "questionnaire": f"{SYSTEM_BASE}/Questionnaire/intake-{intake.specialty}",
            "status": "amended" if intake.revision > 1 else "completed",
            "subject": _ref(ids.patient), "encounter": _ref(ids.encounter),
            "authored": intake.updated_at.isoformat(),
            "author": _ref(ids.guardian), "source": _ref(ids.guardian),
            "item": questionnaire_items(intake.data)}


def measurement_observations(measurement: dict[str, Any], birth_date: date
                             ) -> list[tuple[tuple[str, str, str], float]]:
    """(LOINC, display, unit) and value for each measure taken, BMI when computable.
    Pure: the rule for lying length vs standing height lives here."""
    found: list[tuple[tuple[str, str, str], float]] = []
    measured_on = date.fromisoformat(measurement["measured_on"])
    height, weight = measurement.get("height_cm"), measurement.get("weight_kg")
    if height is not None:
        position = measurement.get("position") or (
            "recumbent" if age_in_whole_years(birth_date, measured_on) < RECUMBENT_UNDER_YEARS
            else "standing")
        found.append((LENGTH_LYING if position == "recumbent" else HEIGHT_STANDING,
                      float(height)))
    if weight is not None:
        found.append((WEIGHT, float(weight)))
    if measurement.get("head_circumference_cm") is not None:
        found.append((HEAD_CIRCUMFERENCE, float(measurement["head_circumference_cm"])))
    if height and weight:
        found.append((BMI, round(float(weight) / (float(height) / 100) ** 2, 1)))
    return found


def _observations(record: ConsultRecord, ids: _Ids) -> list[tuple[str, dict[str, Any]]]:
    intake = record.intake
    assert intake is not None
    data = intake.data
    measurements = [data["current"]] if isinstance(data.get("current"), dict) else []
    measurements += [m for m in data.get("previous_measurements") or [] if isinstance(m, dict)]
    out: list[tuple[str, dict[str, Any]]] = []
    for measurement in measurements:
        taken = measurement_observations(measurement, record.child.birth_date)
        day = measurement["measured_on"]
        made: dict[str, str] = {}
        for (code, display, unit), value in taken:
            rid = _id(record.consult.id, "observation", day, code)
            made[code] = rid
            observation: dict[str, Any] = {
                "resourceType": "Observation", "status": "final",
                "category": [_concept("Vital Signs", OBSERVATION_CATEGORY, "vital-signs",
                                      "Vital Signs")],
                "code": _concept(display, LOINC, code, display),
                "subject": _ref(ids.patient), "encounter": _ref(ids.encounter),
                "effectiveDateTime": day, "performer": [_ref(ids.guardian)],
                "valueQuantity": _quantity(value, unit),
                "derivedFrom": [_ref(ids.questionnaire_response)],
                "note": [{"text": "家长在预问诊中填报 Reported by the guardian in the "
                                  "pre-consultation intake"}],
            }
            if code == BMI[0]:
                observation["derivedFrom"] = [_ref(made[c]) for c in made if c != BMI[0]
                                              and c != HEAD_CIRCUMFERENCE[0]]
            out.append((rid, observation))
    return out


def _condition(record: ConsultRecord, ids: _Ids, data: dict[str, Any]) -> dict[str, Any]:
    code = data.get("icd10")
    concept = _concept(data["diagnosis"], ICD10 if code else None, code)
    notes = [f"医嘱 Advice: {data['advice']}" if data.get("advice") else "",
             f"随访 Follow-up: {data['follow_up']}" if data.get("follow_up") else ""]
    return {"resourceType": "Condition",
            "clinicalStatus": _concept("Active", CONDITION_CLINICAL, "active"),
            # A first visit by video, without a physical examination: provisional.
            "verificationStatus": _concept("Provisional", CONDITION_VERIFICATION,
                                           "provisional"),
            "category": [_concept("Encounter Diagnosis", CONDITION_CATEGORY,
                                  "encounter-diagnosis")],
            "code": concept, "subject": _ref(ids.patient), "encounter": _ref(ids.encounter),
            "recorder": _ref(ids.practitioner), "recordedDate": _iso(record.outcome.recorded_at
                                                                    if record.outcome else None),
            "note": [{"text": n} for n in notes if n]}


def _service_request(record: ConsultRecord, ids: _Ids,
                     referral: dict[str, Any]) -> dict[str, Any]:
    outcome = record.outcome
    assert outcome is not None
    reason, department = str(referral["reason"]), str(referral["department"])
    reason_zh, reason_en = REASON_NAMES[reason]
    dept_zh, dept_en = DEPARTMENTS[department]
    reason_text = f"{reason_zh} {reason_en}" + (
        f": {referral['reason_text']}" if referral.get("reason_text") else "")
    examinations = referral.get("suggested_examinations") or []
    return {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": f"{SYSTEM_BASE}/NamingSystem/referral-reference",
                        "value": outcome.referral_reference}],
        "status": "active", "intent": "order",
        "priority": REFERRAL_PRIORITY[str(referral["urgency"])],
        "code": _concept("转线下就诊 Referral for an in-person visit", SNOMED, "3457005",
                         "Patient referral"),
        "subject": _ref(ids.patient), "encounter": _ref(ids.encounter),
        "authoredOn": outcome.recorded_at.isoformat(), "requester": _ref(ids.practitioner),
        "performerType": _concept(f"{dept_zh} {dept_en}", _local("department"), department,
                                  dept_en),
        "locationCode": [{"text": referral["hospital"]}] if referral.get("hospital") else [],
        "reasonCode": [_concept(reason_text, _local("referral-reason"), reason, reason_en)],
        "patientInstruction": referral.get("instructions") or None,
        "note": [{"text": "建议检查 Suggested examinations: " + "、".join(examinations)}]
        if examinations else [],
    }


def _medication_request(record: ConsultRecord, ids: _Ids, n: int,
                        item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A draft prescription item. intent `order`: the treating physician, who may prescribe,
    signed it — it is an order, not a suggestion (`proposal`). status `draft`: it is not
    active until the pharmacist's review (处方审核) accepts it, outside shouzhen."""
    outcome = record.outcome
    assert outcome is not None
    route_code, route_display = ROUTES[item["route"]]
    dosage_text = (f"{item['dose']}, {item['route']}, {item['frequency']}, "
                   f"{item['duration_days']} days")
    rid = _id(record.consult.id, "medication", n)
    return rid, {
        "resourceType": "MedicationRequest",
        "groupIdentifier": {"system": f"{SYSTEM_BASE}/NamingSystem/prescription",
                            "value": record.consult.id},
        "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"text": f"{item['drug']} {item['strength']}"},
        "subject": _ref(ids.patient), "encounter": _ref(ids.encounter),
        "authoredOn": outcome.recorded_at.isoformat(), "requester": _ref(ids.practitioner),
        "reasonReference": [_ref(ids.condition)],
        "dosageInstruction": [{"text": dosage_text,
                               "route": _concept(route_display, SNOMED, route_code,
                                                 route_display)}],
        "dispenseRequest": {"expectedSupplyDuration": {
            "value": item["duration_days"], "unit": "d", "system": UCUM, "code": "d"}},
        "note": [{"text": f"数量 Quantity: {item['quantity']}"}],
    }


def _media(record: ConsultRecord, ids: _Ids, item: MediaItem) -> tuple[str, dict[str, Any]]:
    kind = {"photo": "image", "video": "video", "audio": "audio"}[item.kind]
    operator = {"physician": ids.practitioner, "guardian": ids.guardian}.get(
        item.operator_role or "")
    rid = _id(record.consult.id, "media", item.item_id)
    return rid, {
        "resourceType": "Media", "status": "completed",
        "identifier": [{"system": f"{SYSTEM_BASE}/NamingSystem/media", "value": item.item_id},
                       *([{"system": f"{SYSTEM_BASE}/NamingSystem/sha256",
                           "value": item.sha256}] if item.sha256 else [])],
        "type": _concept(kind, MEDIA_TYPE, kind),
        "subject": _ref(ids.patient), "encounter": _ref(ids.encounter),
        "createdDateTime": item.created_at.isoformat(),
        "operator": _ref(operator) if operator else None,
        "bodySite": {"text": item.body_site} if item.body_site else None,
        "duration": item.duration_seconds,
        "content": {"contentType": item.content_type, "url": item.url, "size": item.size,
                    "title": item.title},
    }


def _audit_event(record: ConsultRecord, ids: _Ids,
                 entry: AuditEntry) -> tuple[str, dict[str, Any]]:
    who: dict[str, Any]
    if entry.actor_role == "physician" and entry.actor_id == record.physician.id:
        who = _ref(ids.practitioner, record.physician.name)
    elif entry.actor_role == "guardian":
        who = _ref(ids.guardian, record.consult.guardian_name)
    else:
        who = {"display": f"{entry.actor_role}:{entry.actor_id}"}
    action = "C" if entry.action in ("consult.booked", "adverse_event.reported") else (
        "R" if entry.action == "record.viewed" else "U")
    rid = _id(record.consult.id, "audit", entry.seq)
    return rid, {
        "resourceType": "AuditEvent",
        "type": {"system": _local("audit-action"), "code": entry.action},
        "action": action, "recorded": entry.at, "outcome": "0",
        "agent": [{"who": who, "requestor": entry.actor_role != "system"}],
        "source": {"observer": {"display": "shouzhen"}},
        "entity": [{"what": _ref(ids.encounter),
                    "detail": [{"type": "audit_seq", "valueString": str(entry.seq)},
                               {"type": "audit_hash", "valueString": entry.hash}]}],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def export_consult(session: AsyncSession, consult_id: str, *,
                         now: datetime) -> dict[str, Any]:
    return build_bundle(await gather_facts(session, consult_id, now=now))
