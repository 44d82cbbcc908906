"""The drug catalogue over HTTP: staff read it with its version and sources; an admin adds
a local entry (a hospital formulary extension) that refuses at once, and retires it; every
change is audited; an HTTP prescription refusal is a problem document naming the row."""

from __future__ import annotations

import json

import sqlalchemy as sa

from server.clinical.drug_catalogue import national_catalogue
from server.kernel.audit_log import Actor
from server.kernel.models import AuditEntryRow

from ..conftest import PRESCRIPTION_ITEM

LOCAL = {"generic_name_zh": "本院试验霜", "inn": "trialomycin", "aliases": ["TRIAL-X"],
         "drug_class": "local_restriction", "rule": "offline_only",
         "reason": "药事委员会2026年第3次会议：仅限门诊处方"}
ACCOMPANYING = {"name": "张医生", "licence_number": "110105199001",
                "institution": "社区卫生服务中心"}


async def in_call(api, booked_consult):
    booked = await booked_consult()
    consult_id = booked["consult"]["id"]
    physician = Actor("physician", booked["consult"]["physician"]["id"])
    notice = await api.client.post(f"/api/consults/{consult_id}/recording-notice",
                                   headers=api.bearer(booked["guardian_token"]))
    assert notice.status == 200
    consults = api.services.consults
    await consults.guardian_arrives(Actor("guardian", consult_id), consult_id)
    await consults.admit(physician, consult_id)
    await consults.confirm_guardian_present(physician, consult_id)
    return consult_id, api.bearer(booked["physician_token"])


async def actions(api, action):
    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == action).order_by(AuditEntryRow.seq))).all()
    return [json.loads(row.details) for row in rows]


async def test_staff_read_the_catalogue_with_its_version_and_sources(api):
    for headers in (api.admin, api.auditor):
        response = await api.client.get("/api/drug-catalogue", headers=headers)
        assert response.status == 200
        body = await response.json()
        assert body["version"] == national_catalogue().version
        assert {s["id"] for s in body["sources"]} >= {"narcotic_2013", "psychotropic_2013"}
        assert any(e["generic_name_zh"] == "哌甲酯" and "利他林" in e["aliases"]
                   for e in body["entries"])
        assert body["local_entries"] == []


async def test_a_local_entry_refuses_at_once_and_retiring_it_lifts_that(api, booked_consult):
    consult_id, physician = await in_call(api, booked_consult)
    recorded = await api.client.post(f"/api/consults/{consult_id}/accompanying-physician",
                                     json=ACCOMPANYING, headers=physician)
    assert recorded.status == 200, await recorded.text()
    added = await api.client.post("/api/drug-catalogue/local-entries", json=LOCAL,
                                  headers=api.admin)
    assert added.status == 201, await added.text()
    entry = await added.json()
    assert entry["added_by"] == "admin:alice" and entry["retired_at"] is None
    (audited,) = await actions(api, "drug_catalogue.local_entry_added")
    assert audited["entry"]["id"] == entry["id"]

    end = f"/api/consults/{consult_id}/end"
    body = {"outcome": "completed", "diagnosis": "湿疹", "prescription": [
        {**PRESCRIPTION_ITEM, "drug": "ｔｒｉａｌ-ｘ 霜"}]}
    refused = await api.client.post(end, json=body, headers=physician)
    assert refused.status == 422
    assert refused.content_type == "application/problem+json"
    problem = await refused.json()
    assert problem["code"] == "prescription_refused"
    assert problem["catalogue_version"] == national_catalogue().version
    assert problem["offline_referral_offered"] is True
    (error,) = problem["errors"]
    assert error["field"] == "completed.prescription.0"
    assert "in-person visit" in error["message"]
    (refusal,) = await actions(api, "prescription.refused")
    assert refusal["catalogue"]["local_entry_ids"] == [entry["id"]]
    assert refusal["items"][0]["matched"][0]["local_id"] == entry["id"]

    retired = await api.client.post(
        f"/api/drug-catalogue/local-entries/{entry['id']}/retire",
        json={"reason": "药事委员会撤销限制"}, headers=api.admin)
    assert retired.status == 200, await retired.text()
    again = await api.client.post(f"/api/drug-catalogue/local-entries/{entry['id']}/retire",
                                  json={"reason": "twice"}, headers=api.admin)
    assert again.status == 409
    (retire_audit,) = await actions(api, "drug_catalogue.local_entry_retired")
    assert retire_audit["entry"]["retire_reason"] == "药事委员会撤销限制"

    accepted = await api.client.post(end, json=body, headers=physician)
    assert accepted.status == 200, await accepted.text()


async def test_a_four_year_old_over_http_needs_the_accompanying_physician(api, booked_consult):
    consult_id, physician = await in_call(api, booked_consult)
    end = f"/api/consults/{consult_id}/end"
    body = {"outcome": "completed", "diagnosis": "湿疹", "prescription": [PRESCRIPTION_ITEM]}
    refused = await api.client.post(end, json=body, headers=physician)
    assert refused.status == 409
    problem = await refused.json()
    assert problem["code"] == "accompanying_physician_required"
    assert problem["offline_referral_offered"] is True
    assert problem["sixth_birthday"] == "2028-05-20"
    recorded = await api.client.post(f"/api/consults/{consult_id}/accompanying-physician",
                                     json=ACCOMPANYING, headers=physician)
    assert recorded.status == 200
    assert (await api.client.post(end, json=body, headers=physician)).status == 200


async def test_bad_local_entries_and_unknown_ids_are_refused_precisely(api):
    bad = await api.client.post("/api/drug-catalogue/local-entries",
                                json={**LOCAL, "drug_class": "sedative"}, headers=api.admin)
    assert bad.status == 422
    assert [e["field"] for e in (await bad.json())["errors"]] == ["drug_class"]
    blank = await api.client.post("/api/drug-catalogue/local-entries",
                                  json={**LOCAL, "aliases": ["®"]}, headers=api.admin)
    assert blank.status == 422
    for entry_id in ("999", "abc"):
        missing = await api.client.post(f"/api/drug-catalogue/local-entries/{entry_id}/retire",
                                        json={"reason": "x"}, headers=api.admin)
        assert missing.status == 404
    assert await actions(api, "drug_catalogue.local_entry_added") == []


async def test_the_physician_is_offered_catalogue_names_as_they_type(api, booked_consult):
    booked = await booked_consult()
    url = f"/api/consults/{booked['consult']['id']}/drug-names"
    physician = api.bearer(booked["physician_token"])
    added = await api.client.post("/api/drug-catalogue/local-entries", json=LOCAL,
                                  headers=api.admin)
    assert added.status == 201
    response = await api.client.get(url, params={"q": "利他"}, headers=physician)
    assert response.status == 200
    body = await response.json()
    assert body["names"] == [{"name": "利他林", "generic_name_zh": "哌甲酯",
                              "inn": "methylphenidate", "drug_class": "psychotropic_1",
                              "class_name": {"zh": "第一类精神药品",
                                             "en": "class I psychotropic"},
                              "rule": "refuse"}]
    local = await (await api.client.get(url, params={"q": "trial"}, headers=physician)).json()
    assert [n["rule"] for n in local["names"]] == ["offline_only", "offline_only"]
    for bad in ({}, {"q": ""}, {"q": "x" * 101}):
        assert (await api.client.get(url, params=bad, headers=physician)).status == 400
