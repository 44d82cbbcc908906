"""Ending a consult: each outcome through Socket.IO and the API; the guardian sees it at once;
the database, the audit chain and the outbox agree."""

import asyncio

import pytest
import sqlalchemy as sa

from server.kernel import audit_log
from server.kernel.models import OutboxEventRow, OutcomeRow

from ..conftest import PRESCRIPTION_ITEM, REFERRAL


async def outbox(api):
    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(OutboxEventRow).order_by(OutboxEventRow.id))).all()
    return [(r.event_type, r.payload) for r in rows]


async def test_a_referral_reaches_the_guardian_at_once_with_its_reference_number(
        api, call_in_progress):
    booked, physician, guardian = call_in_progress
    ack = await physician.call("end", {"outcome": "referred", "referral": REFERRAL})
    assert ack["ok"], ack
    reference = ack["outcome_detail"]["referral_reference"]
    assert reference.startswith("ZZ20261120-")
    (ended,) = await guardian.wait_for("ended")
    referral = ended["outcome_detail"]["referral"]
    assert referral["reference_number"] == reference
    assert referral["urgency_name"]["zh"] == "24小时内就诊"
    assert referral["department_name"]["en"] == "Paediatric dermatology"
    events = dict(await outbox(api))
    assert events["referral.created"]["reference_number"] == reference
    assert events["consult.ended"]["outcome"] == "referred"
    async with api.services.db.reading() as session:
        assert (await audit_log.verify_chain(session)).ok
        row = await session.get(OutcomeRow, booked["consult"]["id"])
    assert row.referral_reference == reference


async def test_completed_with_a_prescription_is_handed_off_as_a_draft(api, call_in_progress):
    _booked, physician, _guardian = call_in_progress
    # The booked child is 4: the accompanying physician is on record before prescribing.
    assert (await physician.call("record_accompanying_physician", {
        "name": "张医生", "licence_number": "110105199001",
        "institution": "社区卫生服务中心"}))["ok"]
    ack = await physician.call("end", {"outcome": "completed", "diagnosis": "特应性皮炎",
                                       "icd10": "L20.9", "advice": "保湿",
                                       "prescription": [PRESCRIPTION_ITEM]})
    assert ack["ok"], ack
    assert ack["outcome_detail"]["prescription_status"] == "draft_for_review"
    handoff = dict(await outbox(api))["prescription.handoff"]
    assert handoff["items"][0]["drug"] == "hydrocortisone butyrate cream"


@pytest.mark.parametrize(("item", "code"), [
    # Named drugs are refused by the drug catalogue; a declared class by the payload check.
    ({**PRESCRIPTION_ITEM, "drug": "codeine phosphate syrup", "route": "oral"},
     "prescription_refused"),
    ({**PRESCRIPTION_ITEM, "drug": "地西泮片", "route": "oral"}, "prescription_refused"),
    ({**PRESCRIPTION_ITEM, "drug": "some sedative", "drug_class": "psychotropic_2"},
     "invalid_payload"),
])
async def test_controlled_drugs_are_refused_and_nothing_changes(api, call_in_progress, item,
                                                                code):
    booked, physician, _guardian = call_in_progress
    ack = await physician.call("end", {"outcome": "completed", "diagnosis": "x",
                                       "prescription": [item]})
    assert ack["error"]["code"] == code
    assert "may not be prescribed online" in ack["error"]["message"]
    assert (await api.services.consults.record(booked["consult"]["id"])).consult.state == \
        "in_call"
    assert await outbox(api) == []


async def test_an_unknown_department_or_missing_fields_are_refused(api, call_in_progress):
    _booked, physician, _guardian = call_in_progress
    bad = await physician.call("end", {"outcome": "referred",
                                       "referral": {**REFERRAL, "department": "cardiology"}})
    assert "unknown department" in bad["error"]["message"]
    assert [e["field"] for e in bad["error"]["errors"]] == ["referred.referral"]
    missing = await physician.call("end", {"outcome": "completed"})
    assert "diagnosis" in missing["error"]["message"]
    emergency = await physician.call("end", {"outcome": "referred", "referral": {
        **REFERRAL, "reason": "possible_emergency", "urgency": "routine"}})
    assert "emergency" in emergency["error"]["message"]


async def test_aborted_always_leaves_a_referral_or_reschedule(api, call_in_progress):
    _booked, physician, _guardian = call_in_progress
    nothing = await physician.call("end", {"outcome": "aborted", "reason": "technical_failure",
                                           "follow_up": "referral"})
    assert nothing["ok"] is False
    ack = await physician.call("end", {"outcome": "aborted", "reason": "technical_failure",
                                       "follow_up": "reschedule"})
    assert ack["ok"]
    assert dict(await outbox(api))["consult.aborted"]["alert"] is True


async def test_ending_through_the_api_notifies_the_connected_guardian(api, call_in_progress):
    booked, _physician, guardian = call_in_progress
    url = f"/api/consults/{booked['consult']['id']}/end"
    by_guardian = await api.client.post(url, json={"outcome": "referred", "referral": REFERRAL},
                                        headers=api.bearer(booked["guardian_token"]))
    assert by_guardian.status == 403
    response = await api.client.post(url, json={"outcome": "referred", "referral": REFERRAL},
                                     headers=api.bearer(booked["physician_token"]))
    assert response.status == 200, await response.text()
    (ended,) = await guardian.wait_for("ended")
    assert ended["outcome"] == "referred"
    twice = await api.client.post(url, json={"outcome": "referred", "referral": REFERRAL},
                                  headers=api.bearer(booked["physician_token"]))
    assert twice.status == 409


async def test_a_guardian_gone_past_the_grace_period_ends_the_consult_as_aborted(
        api, call_in_progress):
    booked, physician, guardian = call_in_progress
    await guardian.client.eio.disconnect(abort=True)
    await asyncio.sleep(api.services.settings.reconnect_grace_seconds + 1.5)
    record = await api.services.consults.record(booked["consult"]["id"])
    assert record.consult.outcome == "aborted"
    assert record.consult.state in ("ended", "archived")  # sealing follows the end
    assert record.outcome.data["follow_up"] == "reschedule"
    assert (await physician.wait_for("ended"))[0]["outcome"] == "aborted"
    events = dict(await outbox(api))
    assert events["consult.aborted"]["reason"] == "guardian_left"
