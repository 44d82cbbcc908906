"""Delivery status for admins, and every kind of bad request to the new endpoints."""

from __future__ import annotations

import sqlalchemy as sa

from server.kernel.models import AdverseEventRow, AuditEntryRow

from .conftest import REFERRED, book, bring_into_call, end_through_api, eventually, make_physician


async def ended_referral(api):
    physician = await make_physician(api)
    booked = await book(api, physician["id"])
    await bring_into_call(api, booked)
    await end_through_api(api, booked, REFERRED)
    return booked


async def test_admins_see_each_event_with_its_delivery_and_filter_and_page(api, receiver):
    booked = await ended_referral(api)
    await receiver.wait_for(2)

    async def delivered():
        body = await (await api.client.get("/api/events?status=delivered",
                                           headers=api.admin)).json()
        return body["events"] if len(body["events"]) == 2 else None
    events = await eventually(delivered)
    assert [e["type"] for e in events] == ["referral.created", "consult.ended"]
    (delivery,) = events[0]["deliveries"]
    assert delivery | {"delivered_at": None, "last_attempt_at": None} == {
        "target": "his", "status": "delivered", "attempts": 1, "next_attempt_at": None,
        "in_flight": False, "last_attempt_at": None, "last_status_code": 204,
        "last_error": None, "delivered_at": None, "overdue": False,
        "waiting_for_event": None, "target_configured": True}
    assert "data" not in events[0]  # contact details only in the (audited) detail view
    for query, count in [("status=retrying", 0), ("status=pending", 0),
                         (f"consult_id={booked['id']}", 2), ("consult_id=other", 0),
                         ("type=referral.created", 1), ("limit=1", 1),
                         ("limit=1&offset=1", 1), ("offset=2", 0)]:
        body = await (await api.client.get(f"/api/events?{query}", headers=api.admin)).json()
        assert len(body["events"]) == count, query

    detail = await api.client.get(f"/api/events/{events[0]['event_id']}", headers=api.admin)
    assert detail.status == 200
    body = await detail.json()
    assert body["data"]["guardian_phone"] == "13800138000"
    async with api.services.db.reading() as session:
        viewed = (await session.scalars(sa.select(AuditEntryRow.details).where(
            AuditEntryRow.action == "record.viewed"))).all()
    assert viewed == [f'{{"event_id":"{events[0]["event_id"]}","what":"event"}}']
    retry = await api.client.post(f"/api/events/{events[0]['event_id']}/retry",
                                  headers=api.admin)
    assert retry.status == 409  # everything was acknowledged: nothing to retry


async def test_an_event_waiting_behind_an_earlier_one_says_which(api, receiver):
    receiver.set_mode("503")
    booked = await ended_referral(api)

    async def tried():
        body = await (await api.client.get(f"/api/events?consult_id={booked['id']}",
                                           headers=api.admin)).json()
        return body["events"] if body["events"][1]["status"] == "retrying" else None
    later, first = await eventually(tried)
    assert later["status"] == "pending"
    detail = await (await api.client.get(f"/api/events/{later['event_id']}",
                                         headers=api.admin)).json()
    assert detail["deliveries"][0]["waiting_for_event"] == first["event_id"]
    assert first["deliveries"][0]["last_error"].startswith("HTTP 503")


async def test_unknown_events_are_404_and_only_admins_may_see_or_retry(api):
    booked = await ended_referral(api)
    for method, path in [("GET", "/api/events/nope"), ("POST", "/api/events/nope/retry")]:
        response = await api.client.request(method, path, headers=api.admin)
        assert response.status == 404
        assert (await response.json())["code"] == "event_not_found"
    events = await (await api.client.get("/api/events", headers=api.admin)).json()
    event_id = events["events"][0]["event_id"]
    for headers in (api.auditor, api.bearer(booked["physician_token"]),
                    api.bearer(booked["guardian_token"])):
        assert (await api.client.post(f"/api/events/{event_id}/retry",
                                      headers=headers)).status == 403
        assert (await api.client.get("/api/events", headers=headers)).status == 403
        assert (await api.client.get("/api/reports/quality",
                                     headers=headers)).status == 403
    assert (await api.client.post(f"/api/events/{event_id}/retry")).status == 401
    async with api.services.db.reading() as session:
        refused = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "access.refused"))).all()
    assert len(refused) == 10  # every refusal is audited
    bad = await api.client.get("/api/events?status=lost", headers=api.admin)
    assert bad.status == 400
    assert (await api.client.get("/api/events?limit=0", headers=api.admin)).status == 400


async def test_a_report_with_bad_dates_is_400(api):
    for query in ["from=2026-02-30", "from=20261120", "to=tomorrow",
                  "from=2026-11-21&to=2026-11-20", "from=2020-01-01&to=2026-11-20"]:
        response = await api.client.get(f"/api/reports/quality?{query}", headers=api.admin)
        assert response.status == 400, query
        assert (await response.json())["code"] == "malformed_request"
    assert (await api.client.get("/api/reports/quality", headers=api.admin)).status == 200


async def test_bad_adverse_event_reports_are_refused_and_nothing_is_kept(api):
    physician = await make_physician(api)
    booked = await book(api, physician["id"])
    url = f"/api/consults/{booked['id']}/adverse-events"
    good = {"category": "other", "severity": "no_harm", "description": "x"}
    unknown = await api.client.post(url, headers=api.admin,
                                    json={**good, "category": "bad_luck"})
    assert unknown.status == 422
    assert (await unknown.json())["errors"][0]["field"] == "category"
    for body in [{**good, "severity": "catastrophic"}, {**good, "description": ""},
                 {k: v for k, v in good.items() if k != "description"},
                 {**good, "occurred_at": "2030-01-01T00:00:00+00:00"},
                 {**good, "occurred_at": "2026-11-20T01:00:00"}]:
        assert (await api.client.post(url, headers=api.admin, json=body)).status == 422, body
    assert (await api.client.post("/api/consults/nope/adverse-events", headers=api.admin,
                                  json=good)).status == 404
    assert (await api.client.get("/api/consults/nope/adverse-events",
                                 headers=api.admin)).status == 404
    assert (await api.client.post(url, headers=api.auditor, json=good)).status == 403
    assert (await api.client.post(url, headers=api.bearer(booked["guardian_token"]),
                                  json=good)).status == 403
    async with api.services.db.reading() as session:
        assert (await session.scalars(sa.select(AdverseEventRow))).all() == []
