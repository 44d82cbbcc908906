"""A revoked physician can be registered anew after the hospital's new review: a new record,
with fresh credentials and the same licence number, supersedes the revoked one, which stays
revoked with its history; the new record is listed through the eligibility check as usual."""

import json

import sqlalchemy as sa

from server.kernel.models import AuditEntryRow

from ..conftest import ELIGIBLE_PHYSICIAN, booking_for

REVIEW = "医务处复核通过 2026-11-19 (review 2026-017)"


async def status(api, physician_id, new_status, reason="x"):
    return await api.client.post(f"/api/physicians/{physician_id}/whitelist-status",
                                 json={"status": new_status, "reason": reason},
                                 headers=api.admin)


async def re_register(api, physician_id, **changes):
    body = {**ELIGIBLE_PHYSICIAN, "reason": REVIEW, **changes}
    return await api.client.post(f"/api/physicians/{physician_id}/re-registration", json=body,
                                 headers=api.admin)


async def test_a_revoked_physician_is_registered_anew_and_can_be_listed_and_booked(
        api, whitelisted_physician):
    old = await whitelisted_physician()
    assert (await status(api, old["id"], "revoked", "licence lapsed")).status == 200
    # The licence is still held by the revoked record: a plain registration is refused.
    again = await api.client.post("/api/physicians", json=ELIGIBLE_PHYSICIAN, headers=api.admin)
    assert again.status == 409

    response = await re_register(api, old["id"], title="associate_chief")
    assert response.status == 201, await response.text()
    new = await response.json()
    assert new["id"] != old["id"] and new["supersedes"] == old["id"]
    assert (new["whitelist_status"], new["bookable"]) == ("not_listed", False)
    assert (new["licence_number"], new["title"]) == (old["licence_number"], "associate_chief")

    kept = await (await api.client.get(f"/api/physicians/{old['id']}",
                                       headers=api.admin)).json()
    assert kept["whitelist_status"] == "revoked" and kept["superseded_at"] is not None
    assert [(h["from"], h["to"]) for h in kept["whitelist_history"]] == [
        ("not_listed", "active"), ("active", "revoked")]
    # Revoked stays final for the old record.
    assert (await status(api, old["id"], "active")).status == 409

    assert (await status(api, new["id"], "active", "listed after review")).status == 200
    booked = await api.client.post("/api/consults", json=booking_for(new["id"]),
                                   headers=api.admin)
    assert booked.status == 201, await booked.text()
    refused = await api.client.post("/api/consults", json=booking_for(old["id"]),
                                    headers=api.admin)
    assert refused.status == 409

    async with api.services.db.reading() as session:
        entries = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "physician.re_registered"))).all()
    assert len(entries) == 1
    details = json.loads(entries[0].details)
    assert (details["physician_id"], details["supersedes"], details["reason"]) == (
        new["id"], old["id"], REVIEW)


async def test_only_a_revoked_record_is_superseded_and_only_once(api, whitelisted_physician):
    physician = await whitelisted_physician()
    active = await re_register(api, physician["id"])
    assert active.status == 409
    assert "a suspended physician is reinstated" in (await active.json())["detail"]
    assert (await status(api, physician["id"], "suspended")).status == 200
    assert (await re_register(api, physician["id"])).status == 409
    assert (await status(api, physician["id"], "revoked")).status == 200
    assert (await re_register(api, physician["id"])).status == 201
    twice = await re_register(api, physician["id"])
    assert twice.status == 409
    assert (await twice.json())["detail"] == (
        "this record is already superseded by a re-registration")


async def test_a_re_registration_keeps_the_licence_and_checks_the_credentials(
        api, whitelisted_physician):
    physician = await whitelisted_physician()
    assert (await status(api, physician["id"], "revoked")).status == 200
    other = await re_register(api, physician["id"], licence_number="110101199999")
    assert other.status == 422
    assert (await other.json())["errors"] == [{"field": "licence_number", "message": (
        "a re-registration keeps the licence number of the record it supersedes "
        "(110101198001)")}]
    disordered = await re_register(api, physician["id"], internet_consults_since="2015-08-01")
    assert disordered.status == 422
    unknown = await api.client.post("/api/physicians/nobody/re-registration", headers=api.admin,
                                    json={**ELIGIBLE_PHYSICIAN, "reason": REVIEW})
    assert unknown.status == 404
    no_reason = await re_register(api, physician["id"], reason="")
    assert no_reason.status == 422
    # Nothing of the refused attempts stayed: the record is still revoked and in force.
    kept = await (await api.client.get(f"/api/physicians/{physician['id']}",
                                       headers=api.admin)).json()
    assert (kept["whitelist_status"], kept["superseded_at"]) == ("revoked", None)
