import sqlalchemy as sa

from server.api.auth import REFUSALS
from server.kernel.models import AuditEntryRow, PhysicianRow

from ..conftest import ELIGIBLE_PHYSICIAN


async def audit_actions(api, action=None):
    async with api.services.db.reading() as session:
        query = sa.select(AuditEntryRow).order_by(AuditEntryRow.seq)
        rows = (await session.scalars(query)).all()
    return [r for r in rows if action is None or r.action == action]


async def test_a_registered_physician_shows_eligibility_but_is_not_yet_bookable(api):
    response = await api.client.post("/api/physicians", json=ELIGIBLE_PHYSICIAN,
                                     headers=api.admin)
    assert response.status == 201
    body = await response.json()
    assert body["eligibility"]["eligible"] is True
    assert body["whitelist_status"] == "not_listed" and body["bookable"] is False
    assert [e.action for e in await audit_actions(api)] == ["physician.created"]


async def test_whitelisting_an_ineligible_physician_is_refused_with_the_reasons(api):
    junior = {**ELIGIBLE_PHYSICIAN, "title": "resident", "internet_consults_since": "2026-06-01"}
    created = await (await api.client.post("/api/physicians", json=junior,
                                           headers=api.admin)).json()
    response = await api.client.post(f"/api/physicians/{created['id']}/whitelist-status",
                                     json={"status": "active", "reason": "x"}, headers=api.admin)
    assert response.status == 409
    problem = await response.json()
    assert response.content_type == "application/problem+json"
    assert set(problem["reasons"]) == {"title_below_attending", "internet_consults_under_1_year"}
    async with api.services.db.reading() as session:
        row = await session.get(PhysicianRow, created["id"])
    assert row.whitelist_status == "not_listed"


async def test_suspend_reinstate_revoke_keeps_who_when_why(api, whitelisted_physician):
    physician = await whitelisted_physician()
    url = f"/api/physicians/{physician['id']}/whitelist-status"
    for status, reason in (("suspended", "complaint under review"), ("active", "cleared"),
                           ("revoked", "licence lapsed")):
        response = await api.client.post(url, json={"status": status, "reason": reason},
                                         headers=api.admin)
        assert response.status == 200, await response.text()
    again = await api.client.post(url, json={"status": "active", "reason": "try"},
                                  headers=api.admin)
    assert again.status == 409
    history = (await (await api.client.get(f"/api/physicians/{physician['id']}",
                                           headers=api.admin)).json())["whitelist_history"]
    assert [(h["from"], h["to"], h["by"]) for h in history] == [
        ("not_listed", "active", "admin:alice"), ("active", "suspended", "admin:alice"),
        ("suspended", "active", "admin:alice"), ("active", "revoked", "admin:alice")]
    assert history[1]["reason"] == "complaint under review"


async def test_a_duplicate_licence_is_a_conflict(api):
    assert (await api.client.post("/api/physicians", json=ELIGIBLE_PHYSICIAN,
                                  headers=api.admin)).status == 201
    second = await api.client.post("/api/physicians", json=ELIGIBLE_PHYSICIAN, headers=api.admin)
    assert second.status == 409
    assert "already exists" in (await second.json())["detail"]


async def test_wrong_types_and_unknown_specialties_name_each_field(api):
    body = {**ELIGIBLE_PHYSICIAN, "independent_practice_since": "2015-13-45",
            "title": "professor", "specialties": ["cardiology"]}
    response = await api.client.post("/api/physicians", json=body, headers=api.admin)
    assert response.status == 422
    fields = {e["field"] for e in (await response.json())["errors"]}
    assert {"independent_practice_since", "title", "specialties.0"} <= fields


async def test_updating_credentials_changes_eligibility_and_is_audited(api, whitelisted_physician):
    physician = await whitelisted_physician()
    response = await api.client.patch(f"/api/physicians/{physician['id']}",
                                      json={"title": "resident"}, headers=api.admin)
    body = await response.json()
    assert body["eligibility"]["eligible"] is False and body["bookable"] is False
    updated = await audit_actions(api, "physician.updated")
    assert updated and '"after":{"title":"resident"}' in updated[-1].details


async def test_admin_routes_need_the_admin_key_and_refusals_are_audited(api):
    assert (await api.client.get("/api/physicians")).status == 401
    wrong = await api.client.get("/api/physicians", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    # A second anonymous refusal within the window is counted; closing it writes the count.
    await api.client.app[REFUSALS].flush()
    auditor = await api.client.get("/api/physicians", headers=api.auditor)
    assert auditor.status == 403
    refusals = await audit_actions(api, "access.refused")
    assert len(refusals) == 3
    assert refusals[2].actor_role == "auditor" and refusals[2].actor_id == "audrey"
