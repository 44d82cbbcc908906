"""Prescribing for a 4-year-old through the live consult: refused without the accompanying
physician (with the reason and the offline referral offered), accepted once the physician
has recorded one; a catalogue refusal's audit entry carries the catalogue's version and
sources. The booked child (tests/conftest.py) was born 2022-05-20; the clock says
2026-11-20."""

from __future__ import annotations

import json

import sqlalchemy as sa

from server.clinical.drug_catalogue import national_catalogue
from server.kernel import audit_log
from server.kernel.models import AuditEntryRow, OutboxEventRow

from ..conftest import PRESCRIPTION_ITEM

ACCOMPANYING = {"name": "张医生", "licence_number": "110105199001",
                "institution": "某某社区卫生服务中心"}
COMPLETED = {"outcome": "completed", "diagnosis": "特应性皮炎", "icd10": "L20.9",
             "prescription": [PRESCRIPTION_ITEM]}


async def entries(api, action):
    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == action).order_by(AuditEntryRow.seq))).all()
    return [(row.actor_role, json.loads(row.details)) for row in rows]


async def handoffs(api):
    async with api.services.db.reading() as session:
        return (await session.scalars(sa.select(OutboxEventRow).where(
            OutboxEventRow.event_type == "prescription.handoff"))).all()


async def test_a_four_year_old_gets_a_prescription_only_with_the_accompanying_physician(
        api, call_in_progress):
    booked, physician, _guardian = call_in_progress
    consult_id = booked["consult"]["id"]

    refused = await physician.call("end", COMPLETED)
    assert refused["error"]["code"] == "accompanying_physician_required"
    message = refused["error"]["message"]
    assert "未满6周岁" in message and "under 6" in message
    assert "转线下就诊" in message and "refer the child offline" in message
    assert (await api.services.consults.record(consult_id)).consult.state == "in_call"
    assert await handoffs(api) == []
    ((role, refusal),) = await entries(api, "prescription.refused")
    assert role == "physician"
    assert refusal["rule"] == "under_6_accompanied"
    assert refusal["sixth_birthday"] == "2028-05-20"
    assert (refusal["guardian_confirmed"], refusal["accompanying_physician_recorded"]) == (
        True, False)

    bad = await physician.call("record_accompanying_physician",
                               {**ACCOMPANYING, "licence_number": "x"})
    assert bad["error"]["code"] == "invalid_payload"
    recorded = await physician.call("record_accompanying_physician", ACCOMPANYING)
    assert recorded["ok"], recorded
    assert recorded["accompanying_physician"]["licence_number"] == "110105199001"
    ((_, audited),) = await entries(api, "consult.accompanying_physician_recorded")
    assert audited["institution"] == "某某社区卫生服务中心" and audited["previous"] is None

    ended = await physician.call("end", COMPLETED)
    assert ended["ok"], ended
    assert ended["outcome_detail"]["prescription_status"] == "draft_for_review"
    assert len(await handoffs(api)) == 1
    async with api.services.db.reading() as session:
        assert (await audit_log.verify_chain(session)).ok


async def test_the_guardian_cannot_record_the_accompanying_physician(api, call_in_progress):
    _booked, _physician, guardian = call_in_progress
    ack = await guardian.call("record_accompanying_physician", ACCOMPANYING)
    assert ack["error"]["code"] == "forbidden"


async def test_recording_again_replaces_and_keeps_the_previous_in_the_audit_log(
        api, call_in_progress):
    _booked, physician, _guardian = call_in_progress
    assert (await physician.call("record_accompanying_physician", ACCOMPANYING))["ok"]
    again = await physician.call("record_accompanying_physician",
                                 {**ACCOMPANYING, "name": "李医生"})
    assert again["accompanying_physician"]["name"] == "李医生"
    (_, first), (_, second) = await entries(api, "consult.accompanying_physician_recorded")
    assert first["previous"] is None and second["previous"]["name"] == "张医生"


async def test_the_accompanying_physician_is_recorded_only_during_the_call(
        api, consult_in_waiting_room):
    _booked, physician, _guardian = consult_in_waiting_room
    ack = await physician.call("record_accompanying_physician", ACCOMPANYING)
    assert ack["error"]["code"] == "transition_not_allowed"


async def test_a_catalogue_refusal_is_audited_with_the_catalogue_version_and_sources(
        api, call_in_progress):
    booked, physician, _guardian = call_in_progress
    body = {**COMPLETED, "prescription": [
        PRESCRIPTION_ITEM, {**PRESCRIPTION_ITEM, "drug": "利他林", "route": "oral"}]}
    ack = await physician.call("end", body)
    assert ack["error"]["code"] == "prescription_refused"
    (error,) = ack["error"]["errors"]
    assert error["field"] == "completed.prescription.1"
    assert error["message"].startswith(
        "利他林: narcotic and psychotropic drugs may not be prescribed online")
    ((_, refusal),) = await entries(api, "prescription.refused")
    catalogue = national_catalogue()
    assert refusal["rule"] == "drug_catalogue"
    assert refusal["catalogue"]["version"] == catalogue.version
    assert refusal["catalogue"]["sources"] == [s.citation() for s in catalogue.sources]
    ((item),) = refusal["items"]
    assert item["index"] == 1
    assert item["matched"][0] | {"local_id": None} == {
        "name": "利他林", "generic_name_zh": "哌甲酯", "inn": "methylphenidate",
        "class": "psychotropic_1", "rule": "refuse", "source": "psychotropic_2013",
        "local_id": None}
    assert (await api.services.consults.record(booked["consult"]["id"])).consult.state == \
        "in_call"
