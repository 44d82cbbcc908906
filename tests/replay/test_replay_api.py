"""The auditor's API on a consult that was really held: the list and its filters, one
consult with its timeline and both recordings placed on one time base, every view audited,
every other role refused (and the refusal audited), no path built from a URL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from server.kernel.models import AuditEntryRow

from .conftest import AUDITOR, GUARDIAN_SAYS, PHYSICIAN_SAYS, book_now


async def audit_actions(api, consult_id=None) -> list[tuple[str, str, str]]:
    async with api.services.db.reading() as session:
        query = sa.select(AuditEntryRow).order_by(AuditEntryRow.seq)
        if consult_id is not None:
            query = query.where(AuditEntryRow.consult_id == consult_id)
        rows = (await session.scalars(query)).all()
    return [(r.action, r.actor_role, r.details) for r in rows]


async def listed(api, query: str = "") -> dict:
    response = await api.client.get(f"/api/replay/consults{query}", headers=AUDITOR)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_the_list_filters_by_date_physician_specialty_outcome_referral_and_state(
        api, sealed_consult, clock):
    consult_id = sealed_consult.consult_id
    # A second consult of another kind: booked, never held.
    other = await book_now(api, sealed_consult.physician_id, clock)
    every = await listed(api)
    assert every["total"] == 2 and {c["id"] for c in every["consults"]} == {
        consult_id, other["consult"]["id"]}
    row = next(c for c in every["consults"] if c["id"] == consult_id)
    assert row["outcome"] == "referred" and row["has_referral"] and row["sealed"]
    assert row["state"] == "archived" and row["referral_reference"]
    assert row["physician"]["id"] == sealed_consult.physician_id and not row["legal_hold"]

    today = clock.today().isoformat()
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    for query, expected in [
        (f"?from={today}&to={today}", {consult_id, other["consult"]["id"]}),
        (f"?from={tomorrow}", set()),
        ("?outcome=referred", {consult_id}),
        ("?outcome=completed", set()),
        ("?has_referral=true", {consult_id}),
        ("?has_referral=false", {other["consult"]["id"]}),
        ("?state=archived", {consult_id}),
        ("?state=booked", {other["consult"]["id"]}),
        ("?specialty=growth_development&state=archived", {consult_id}),
        ("?specialty=dermatology", set()),
        (f"?physician={sealed_consult.physician_id}&outcome=referred", {consult_id}),
        ("?physician=nobody", set()),
    ]:
        assert {c["id"] for c in (await listed(api, query))["consults"]} == expected, query
    first = await listed(api, "?limit=1")
    second = await listed(api, "?limit=1&offset=1")
    assert first["total"] == second["total"] == 2
    assert {first["consults"][0]["id"], second["consults"][0]["id"]} == {
        consult_id, other["consult"]["id"]}
    for bad in ("?outcome=cured", "?from=2026-13-01", "?limit=0", "?has_referral=maybe",
                "?state=lost", "?specialty=cardiology"):
        response = await api.client.get(f"/api/replay/consults{bad}", headers=AUDITOR)
        assert response.status == 400, bad
        assert (await response.json())["code"] == "malformed_request"


async def test_one_consult_has_its_timeline_in_order_both_recordings_on_one_time_base_intake_photos_and_referral(  # noqa: E501
        api, sealed_consult):
    consult_id = sealed_consult.consult_id
    response = await api.client.get(f"/api/replay/consults/{consult_id}", headers=AUDITOR)
    assert response.status == 200, await response.text()
    view = await response.json()

    actions = [item["action"] for item in view["timeline"]]
    expected = ["consult.booked", "intake.submitted", "consult.recording_notice_accepted",
                "consult.guardian_joined", "consult.admitted", "consult.guardian_confirmed",
                "chat.message", "capture.requested", "capture.stored", "chat.message",
                "consult.ended", "recording.segment_closed", "archive.sealed"]
    cursor = -1
    for action in expected:  # each found after the one before it: in this order
        assert action in actions[cursor + 1:], (action, actions)
        cursor = actions.index(action, cursor + 1)
    assert actions[-1] == "archive.sealed", "the course ends with the seal"
    seqs = [item["seq"] for item in view["timeline"]]
    assert seqs == sorted(seqs)
    categories = {item["action"]: item["category"] for item in view["timeline"]}
    assert categories["consult.ended"] == "referral"
    assert categories["consult.admitted"] == "admit"
    assert categories["consult.guardian_confirmed"] == "guardian_confirmation"
    assert categories["chat.message"] == "chat" and categories["capture.stored"] == "capture"
    chat = [item for item in view["timeline"] if item["action"] == "chat.message"]
    assert [c["details"]["text"] for c in chat] == [PHYSICIAN_SAYS, GUARDIAN_SAYS]
    assert 0 < chat[0]["offset_s"] < chat[1]["offset_s"] < view["recordings"]["duration_s"]

    recordings = view["recordings"]
    sides = {p["participant"]: p["segments"] for p in recordings["participants"]}
    assert [p["participant"] for p in recordings["participants"]] == ["physician", "guardian"]
    for segments in sides.values():
        assert segments and segments[0]["offset_s"] >= 0
        assert all(s["content_type"] == "video/webm" and s["state"] == "available"
                   for s in segments)
        assert [s["index"] for s in segments] == sorted(s["index"] for s in segments)
    starts = [sides[p][0]["offset_s"] for p in sides]
    assert min(starts) == 0, "time 0 is the first moment either side recorded"
    assert max(starts) < 2.0, "both sides started recording together"
    assert 4.0 <= recordings["duration_s"] <= 15.0

    consult = view["consult"]
    assert consult["intake"]["data"]["concerns"] == "比同龄人矮"
    assert consult["outcome"] == "referred" and consult["outcome_detail"]["referral"]
    assert consult["outcome_detail"]["referral_reference"]
    assert view["photos"] and {p["id"] for p in view["photos"]} == set(sealed_consult.photo_ids)
    photo = view["photos"][0]
    image = await api.client.get(photo["url"], headers=AUDITOR)
    assert image.status == 200 and image.content_type.startswith("image/")
    assert view["archive"]["manifest_sha256"] and view["legal_holds"] == []
    retention = {r["path"]: r for r in view["retention"]["artefacts"]}
    assert retention["record/chat.json"]["retention_class"] == "process_record"
    assert retention["record/intake.json"]["retention_class"] == "medical_record"
    assert all(r["state"] == "present" and not r["purgeable_now"] for r in retention.values())


async def test_views_lists_and_verifications_are_audited_with_the_auditors_name(
        api, sealed_consult):
    consult_id = sealed_consult.consult_id
    before = len(await audit_actions(api))
    await api.client.get("/api/replay/consults?outcome=referred", headers=AUDITOR)
    await api.client.get(f"/api/replay/consults/{consult_id}", headers=AUDITOR)
    await api.client.post(f"/api/replay/consults/{consult_id}/verify", headers=AUDITOR)
    new = (await audit_actions(api))[before:]
    assert [(action, role) for action, role, _ in new] == [
        ("replay.listed", "auditor"), ("record.viewed", "auditor"),
        ("archive.verified", "auditor")]
    async with api.services.db.reading() as session:
        rows = (await session.scalars(sa.select(AuditEntryRow).order_by(
            AuditEntryRow.seq.desc()).limit(3))).all()
    assert {row.actor_id for row in rows} == {"audrey"}
    assert '"outcome":"referred"' in rows[2].details
    assert rows[1].consult_id == consult_id and '"what":"replay"' in rows[1].details


AUDITOR_ROUTES = [("GET", "/api/replay/consults"), ("GET", "/api/replay/consults/{id}"),
                  ("POST", "/api/replay/consults/{id}/playback"),
                  ("POST", "/api/replay/consults/{id}/verify"),
                  ("GET", "/api/replay/consults/{id}/export"),
                  ("GET", "/api/replay/consults/{id}/recordings/{segment}")]


@pytest.mark.parametrize("who", ["physician", "guardian", "admin"])
async def test_physician_guardian_and_admin_are_refused_on_auditor_routes_and_it_is_audited(
        api, sealed_consult, who):
    consult_id = sealed_consult.consult_id
    view = await (await api.client.get(f"/api/replay/consults/{consult_id}",
                                       headers=AUDITOR)).json()
    segment = view["recordings"]["participants"][0]["segments"][0]["id"]
    headers = {"physician": api.bearer(sealed_consult.physician_token),
               "guardian": api.bearer(sealed_consult.guardian_token), "admin": api.admin}[who]
    before = len(await audit_actions(api))
    for method, path in AUDITOR_ROUTES:
        url = path.format(id=consult_id, segment=segment)
        response = await api.client.request(method, url, headers=headers)
        assert response.status == 403, (who, url, response.status)
        assert (await response.json())["code"] == "forbidden"
    new = (await audit_actions(api))[before:]
    assert len(new) == len(AUDITOR_ROUTES)
    assert {action for action, _, _ in new} == {"access.refused"}
    assert {role for _, role, _ in new} == {who}
    # Nobody reached the recordings: no playback, view or export was recorded.
    assert not any(action in ("recording.played", "record.viewed", "archive.exported")
                   for action, _, _ in new)
    unauthenticated = await api.client.get("/api/replay/consults")
    assert unauthenticated.status == 401


@pytest.mark.parametrize("path", [
    "/api/replay/consults/..%2F..%2Fsecrets.json",
    "/api/replay/consults/%2e%2e%2f%2e%2e%2fsecrets.json/export",
    "/api/replay/consults/..%252F..%252Fsecrets.json/verify",
    "/api/replay/consults/{id}/recordings/..%2F..%2F..%2Fsecrets.json",
    "/api/replay/consults/{id}/recordings/%2e%2e%2fstore",
    "/api/replay/consults/{id}/recordings/1%2F..%2F..%2Fsecrets.json",
    "/api/replay/consults/{id}/recordings/-1",
    "/api/replay/consults/{id}/recordings/99999999",
    "/api/replay/consults/{id}/../../../secrets.json",
])
async def test_path_traversal_in_the_url_reaches_no_file(api, sealed_consult, path):
    url = path.format(id=sealed_consult.consult_id)
    method = "POST" if url.endswith("/verify") else "GET"
    response = await api.client.request(method, url, headers=AUDITOR)
    assert response.status in (400, 404), (url, response.status)
    body = await response.read()
    assert b"secret_key" not in body and b"admin_key" not in body
    assert not response.headers.get("Content-Type", "").startswith("video/")
