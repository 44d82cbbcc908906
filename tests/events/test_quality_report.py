"""The quality and safety report on a small set of consults whose numbers are known, and
adverse-event reports."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from server.kernel.audit_log import Actor
from server.kernel.models import AuditEntryRow

from .conftest import (
    ABORTED,
    COMPLETED,
    REFERRED,
    book,
    bring_into_call,
    end_through_api,
    make_physician,
    outbox_rows,
)

DAY = "from=2026-11-20&to=2026-11-20"


async def report(api, query=DAY, headers=None):
    response = await api.client.get(f"/api/reports/quality?{query}",
                                    headers=headers or api.admin)
    return response.status, await response.json()


async def known_consults(api):
    """Five consults on 2026-11-20 and one on the 25th (outside the period):

    | consult | physician | specialty   | end        | wait   | incidents              |
    |---------|-----------|-------------|------------|--------|------------------------|
    | c1      | 王 (A)    | growth      | completed  | 5 min  | quality fair (ignored) |
    | c2      | 王 (A)    | dermatology | referred   | 10 min | poor + interrupted     |
    | c3      | 张 (B)    | growth      | aborted→ref| 1 min  | queue overflow         |
    | c4      | 张 (B)    | growth      | cancelled  |        |                        |
    | c5      | 张 (B)    | growth      | no-show    |        |                        |
    """
    a = await make_physician(api)
    b = await make_physician(api, licence_number="110101198002", name="张医生")
    consults = api.services.consults
    c1 = await book(api, a["id"])
    await bring_into_call(api, c1, wait=timedelta(minutes=5))
    await consults.record_event(Actor("guardian", c1["id"]), c1["id"], "participant.quality",
                                {"quality": "fair"})
    await end_through_api(api, c1, COMPLETED)
    c2 = await book(api, a["id"], specialty="dermatology")
    await bring_into_call(api, c2, wait=timedelta(minutes=10))
    await consults.record_event(Actor("guardian", c2["id"]), c2["id"], "participant.quality",
                                {"quality": "poor"})
    await consults.record_event(Actor("guardian", c2["id"]), c2["id"],
                                "participant.interrupted", {"after_seconds": 60})
    await end_through_api(api, c2, REFERRED)
    c3 = await book(api, b["id"])
    await bring_into_call(api, c3, wait=timedelta(minutes=1))
    await consults.record_event(Actor.system("media"), c3["id"], "media.queue_overflow",
                                {"role": "physician", "media": "video", "dropped": 3})
    await end_through_api(api, c3, ABORTED)
    c4 = await book(api, b["id"])
    cancelled = await api.client.post(f"/api/consults/{c4['id']}/cancel", headers=api.admin,
                                      json={"reason": "family rescheduled"})
    assert cancelled.status == 200
    c5 = await book(api, b["id"])
    no_show = await api.client.post(f"/api/consults/{c5['id']}/no-show", headers=api.admin,
                                    json={"reason": "nobody came"})
    assert no_show.status == 200
    later = await book(api, a["id"], scheduled_start="2026-11-25T02:30:00+00:00")
    return a, b, c2, later


async def test_the_report_counts_a_known_set_of_consults(api):
    a, b, c2, _later = await known_consults(api)
    filed = await api.client.post(f"/api/consults/{c2['id']}/adverse-events", headers=api.admin,
                                  json={"category": "delayed_referral", "severity": "harm",
                                        "description": "转诊后家长未能及时就诊，病情加重"})
    assert filed.status == 201, await filed.text()

    status, body = await report(api)
    assert status == 200
    assert body["period"] == {"from": "2026-11-20", "to": "2026-11-20",
                              "timezone": "Asia/Shanghai"}
    assert body["totals"] == {"consults": 5, "completed": 1, "referred": 1, "aborted": 1,
                              "cancelled": 1, "no_show": 1, "open": 0,
                              "referral_rate": 0.3333}
    specialties = {s["specialty"]["code"]: s for s in body["by_specialty"]}
    assert specialties["growth_development"]["consults"] == 4
    assert specialties["dermatology"]["referred"] == 1
    assert specialties["nutrition"]["consults"] == 0
    assert specialties["nutrition"]["referral_rate"] is None
    physicians = {p["physician_id"]: p for p in body["by_physician"]}
    assert (physicians[a["id"]]["consults"], physicians[a["id"]]["referral_rate"]) == (2, 0.5)
    assert physicians[b["id"]]["name"] == "张医生"
    assert (physicians[b["id"]]["aborted"], physicians[b["id"]]["no_show"]) == (1, 1)

    referrals = body["referrals"]
    assert (referrals["referred_outcomes"], referrals["total_with_aborted"],
            referrals["rate_with_aborted"]) == (1, 2, 0.6667)
    assert {(r["code"], r["count"]) for r in referrals["by_reason"]} == {
        ("needs_physical_examination", 1), ("technical_failure", 1)}
    assert referrals["by_reason"][0]["zh"] in ("需要体格检查", "技术故障")
    aborted = body["aborted"]
    assert (aborted["count"], aborted["automatic"]) == (1, 0)
    assert aborted["by_reason"] == [{"code": "technical_failure", "zh": "技术故障",
                                     "en": "Technical failure", "count": 1}]
    assert aborted["consults"][0]["follow_up"] == "referral"

    assert body["waiting_room"] == {"admitted": 3, "average_seconds": 320.0,
                                    "p90_seconds": 600.0, "max_seconds": 600.0,
                                    "joined_but_never_admitted": 0}
    assert body["call_quality"] == {
        "incidents": 3, "by_kind": {"poor_quality": 1, "interrupted": 1, "queue_overflow": 1},
        "consults_affected": 2, "share_of_calls_affected": 0.6667}
    adverse = body["adverse_events"]
    assert adverse["count"] == 1 and adverse["by_category"][0]["code"] == "delayed_referral"
    assert adverse["by_severity"][0]["zh"] == "II级 不良后果事件"

    wider = (await report(api, "from=2026-11-20&to=2026-11-30"))[1]
    assert (wider["totals"]["consults"], wider["totals"]["open"]) == (6, 1)
    async with api.services.db.reading() as session:
        viewed = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "report.viewed"))).all()
    assert len(viewed) == 2 and viewed[0].actor_id == "alice"


async def test_an_adverse_event_is_kept_with_the_consult_audited_and_sent_out(api, receiver):
    physician = await make_physician(api)
    booked = await book(api, physician["id"])
    url = f"/api/consults/{booked['id']}/adverse-events"
    filed = await api.client.post(url, headers=api.admin, json={
        "category": "privacy_incident", "severity": "near_miss",
        "description": "问诊链接被转发给无关人员，未被打开",
        "occurred_at": "2026-11-20T01:00:00+00:00"})
    assert filed.status == 201, await filed.text()
    report_id = (await filed.json())["id"]
    listed = await (await api.client.get(url, headers=api.auditor)).json()
    assert [e["id"] for e in listed["adverse_events"]] == [report_id]
    assert listed["adverse_events"][0]["severity_name"]["zh"] == "IV级 隐患事件"
    async with api.services.db.reading() as session:
        actions = (await session.scalars(sa.select(AuditEntryRow.action).where(
            AuditEntryRow.consult_id == booked["id"]).order_by(AuditEntryRow.seq))).all()
    assert actions[-2:] == ["adverse_event.reported", "record.viewed"]
    (event,) = [e for e in await outbox_rows(api.services.db)]
    assert event.event_type == "adverse_event.reported"
    (sent,) = await receiver.wait_for(1)
    assert sent["data"]["adverse_event_id"] == report_id
    assert sent["data"]["category"] == "privacy_incident"
