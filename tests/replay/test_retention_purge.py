"""Retention purge on a real sealed consult, with the rule applied as of a chosen moment
(`--now`): after three years the process records (recordings, chat) go and the medical
record stays; a later visit of the same child pushes the medical record's end out; a legal
hold keeps everything; a dry run changes nothing; each deletion is one audit entry, and
verification afterwards reports "purged (retention)" — while a deletion dressed up as a
purge is still reported missing."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from recorder.retention import RetainedArtefact, RetentionClass, expires_at
from recorder.storage import consult_prefix
from server.app import cli
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.models import AuditEntryRow, AuditHeadRow
from server.records.retention_purge import policy_from_settings

from .conftest import ADMIN, AUDITOR, later_visit

PROCESS, MEDICAL = RetentionClass.PROCESS_RECORD, RetentionClass.MEDICAL_RECORD


async def shouzhen(settings, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`shouzhen --data-dir … retention purge …` against this test's database and store,
    in a thread (the command runs its own event loop, as it does from a shell)."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["--data-dir", str(settings.data_dir),
                                              "retention", "purge", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


async def purge(settings, monkeypatch, capsys, now: datetime, *flags: str) -> dict:
    code, out, err = await shouzhen(settings, monkeypatch, capsys, "--now", now.isoformat(),
                                    "--json", *flags)
    assert code == 0, err
    report: dict = json.loads(out)
    return report


def expiry(api, retention_class, counted_from: datetime) -> datetime:
    return expires_at(RetainedArtefact("x", retention_class, counted_from),
                      policy_from_settings(api.services.settings))


async def ended_at(api, consult_id) -> datetime:
    record = await api.services.consults.record(consult_id)
    assert record.consult.ended_at is not None
    return record.consult.ended_at


def stored_files(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mode)
            for p in root.rglob("*") if p.is_file()}


async def entries(api, action) -> list[AuditEntryRow]:
    async with api.services.db.reading() as session:
        return list((await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == action).order_by(AuditEntryRow.seq))).all())


async def verify(api, consult_id) -> dict:
    response = await api.client.post(f"/api/replay/consults/{consult_id}/verify",
                                     headers=AUDITOR)
    assert response.status == 200
    return await response.json()


async def test_after_three_years_process_records_go_and_the_medical_record_stays(
        api, sealed_consult, settings, monkeypatch, capsys):
    consult_id = sealed_consult.consult_id
    root = api.services.storage.path_for(consult_prefix(consult_id))
    process_ends = expiry(api, PROCESS, await ended_at(api, consult_id))

    early = await purge(settings, monkeypatch, capsys, process_ends - timedelta(seconds=1),
                        "--dry-run")
    assert early["would_purge"] == [] and early["next_expiry"] == process_ends.isoformat()

    report = await purge(settings, monkeypatch, capsys, process_ends, "--allow-future-now")
    purged = {item["path"]: item for item in report["purged"]}
    assert purged and all(p.startswith("recordings/") or p == "record/chat.json"
                          for p in purged)
    assert "record/chat.json" in purged and any(p.startswith("recordings/") for p in purged)
    assert {item["retention_class"] for item in purged.values()} == {"process_record"}
    assert {item["expires_at"] for item in purged.values()} == {process_ends.isoformat()}
    left = stored_files(root)
    assert not any(path in left for path in purged)
    for kept in ("record/intake.json", "record/consult.json", "record/audit.json"):
        assert kept in left
    assert sum(p.startswith("photos/") for p in left) == 4

    deletions = await entries(api, "retention.purged")
    assert len(deletions) == len(purged), "one audit entry per deletion"
    for entry in deletions:
        details = json.loads(entry.details)
        assert entry.consult_id == consult_id and entry.actor_role == "admin"
        assert entry.actor_id.startswith("cli:")
        assert details["reason"] == "retention_period_ended"
        assert details["expires_at"] == process_ends.isoformat()
        assert details["sha256"] == purged[details["path"]]["sha256"]
        assert details["clock_override"] is True
    assert len(await entries(api, "retention.purge_run")) == 1

    # Years later, the auditor can tell this purge from tampering.
    result = await verify(api, consult_id)
    assert result["ok"], result["problems"]
    states = {a["path"]: a for a in result["artefacts"]}
    for path in purged:
        assert states[path]["status"] == "purged"
        assert states[path]["detail"] == "purged (retention)"
        assert states[path]["purge"]["seq"] in {e.seq for e in deletions}
    assert all(states[p]["status"] == "verified" for p in states if p not in purged)
    assert any("clock override" in w for w in result["warnings"])

    view = await (await api.client.get(f"/api/replay/consults/{consult_id}",
                                       headers=AUDITOR)).json()
    segments = [s for p in view["recordings"]["participants"] for s in p["segments"]]
    assert {s["state"] for s in segments} == {"purged"}
    gone = await api.client.get(segments[0]["url"], headers=AUDITOR)
    assert gone.status == 410 and (await gone.json())["code"] == "recording_purged"
    export = await api.client.get(f"/api/replay/consults/{consult_id}/export", headers=AUDITOR)
    assert export.status == 200 and b"purged under the retention rule" in await export.read()

    again = await purge(settings, monkeypatch, capsys, process_ends, "--allow-future-now")
    assert again["purged"] == [] and len(await entries(api, "retention.purged")) == len(purged)


async def test_a_later_visit_of_the_same_child_extends_the_medical_record(
        api, sealed_consult, settings, monkeypatch, capsys, clock, peers):
    first = sealed_consult.consult_id
    first_end = await ended_at(api, first)
    second = await later_visit(api, peers, sealed_consult.physician_id, clock,
                               timedelta(days=2 * 365))
    second_end = await ended_at(api, second)
    assert second_end - first_end > timedelta(days=700)
    first_alone = expiry(api, MEDICAL, first_end)
    extended = expiry(api, MEDICAL, second_end)

    report = await purge(settings, monkeypatch, capsys, first_alone + timedelta(days=1),
                         "--dry-run")
    going = {(item["consult_id"], item["path"]) for item in report["would_purge"]}
    assert (first, "record/chat.json") in going, "process records count from their own visit"
    assert not any(path.startswith(("photos/", "record/intake")) for _, path in going)
    assert not any(path in ("record/consult.json", "record/audit.json") for _, path in going)

    later = await purge(settings, monkeypatch, capsys, extended, "--dry-run")
    medical = {item["path"]: item for item in later["would_purge"]
               if item["consult_id"] == first and item["retention_class"] == "medical_record"}
    assert {"record/intake.json", "record/consult.json", "record/audit.json"} <= set(medical)
    assert {item["counted_from"] for item in medical.values()} == {second_end.isoformat()}
    assert {item["expires_at"] for item in medical.values()} == {extended.isoformat()}


async def test_a_legal_hold_blocks_the_purge_until_an_admin_clears_it(
        api, sealed_consult, settings, monkeypatch, capsys):
    consult_id = sealed_consult.consult_id
    root = api.services.storage.path_for(consult_prefix(consult_id))
    holds_url = f"/api/consults/{consult_id}/legal-holds"
    refused = await api.client.post(holds_url, json={"reason": "投诉调查"}, headers=AUDITOR)
    assert refused.status == 403
    placed = await api.client.post(holds_url, json={"reason": "患方投诉，法院调取证据"},
                                   headers=ADMIN)
    assert placed.status == 201, await placed.text()
    hold = await placed.json()
    assert hold["active"] and hold["set_by"] == "admin:alice"

    before = stored_files(root)
    way_later = expiry(api, MEDICAL, await ended_at(api, consult_id)) + timedelta(days=30)
    report = await purge(settings, monkeypatch, capsys, way_later, "--allow-future-now")
    assert report["purged"] == [] and len(report["held"]) == len(before) - 1  # not the manifest
    assert stored_files(root) == before
    assert await entries(api, "retention.purged") == []
    listed = await (await api.client.get("/api/replay/consults", headers=AUDITOR)).json()
    assert listed["consults"][0]["legal_hold"] is True
    view = await (await api.client.get(f"/api/replay/consults/{consult_id}",
                                       headers=AUDITOR)).json()
    assert view["legal_holds"][0]["reason"] == "患方投诉，法院调取证据"

    cleared = await api.client.post(f"{holds_url}/{hold['id']}/clear",
                                    json={"reason": "案件已结"}, headers=ADMIN)
    assert cleared.status == 200, await cleared.text()
    twice = await api.client.post(f"{holds_url}/{hold['id']}/clear",
                                  json={"reason": "案件已结"}, headers=ADMIN)
    assert twice.status == 409
    holds = await (await api.client.get(holds_url, headers=AUDITOR)).json()
    assert holds["legal_holds"][0]["cleared_reason"] == "案件已结"
    assert [e.actor_role for e in await entries(api, "legal_hold.set")] == ["admin"]
    assert [e.actor_role for e in await entries(api, "legal_hold.cleared")] == ["admin"]

    report = await purge(settings, monkeypatch, capsys, way_later, "--allow-future-now")
    assert len(report["purged"]) == len(before) - 1
    assert set(stored_files(root)) == {"archive-manifest.json"}, "the manifest stays, as evidence"
    result = await verify(api, consult_id)
    assert result["ok"], result["problems"]
    assert {a["status"] for a in result["artefacts"]} == {"purged"}


async def test_a_dry_run_lists_everything_due_and_changes_nothing(
        api, sealed_consult, settings, monkeypatch, capsys):
    consult_id = sealed_consult.consult_id
    root = api.services.storage.path_for(consult_prefix(consult_id))
    before_files = stored_files(root)
    async with api.services.db.reading() as session:
        before_head = (await session.get(AuditHeadRow, 1)).last_hash
    far = datetime.fromisoformat("2060-01-01T00:00:00+08:00")
    code, out, err = await shouzhen(settings, monkeypatch, capsys, "--dry-run", "--now",
                                    far.isoformat())
    assert code == 0, err
    assert out.count("would purge\t") == len(before_files) - 1
    assert "0 held" in out
    assert stored_files(root) == before_files
    async with api.services.db.reading() as session:
        assert (await session.get(AuditHeadRow, 1)).last_hash == before_head


async def test_a_future_now_is_refused_for_a_real_purge_and_a_naive_one_always(
        api, sealed_consult, settings, monkeypatch, capsys):
    root = api.services.storage.path_for(consult_prefix(sealed_consult.consult_id))
    before = stored_files(root)
    code, _, err = await shouzhen(settings, monkeypatch, capsys, "--now",
                                  "2060-01-01T00:00:00+08:00")
    assert code == 2 and "--dry-run" in err
    code, _, err = await shouzhen(settings, monkeypatch, capsys, "--dry-run", "--now",
                                  "2060-01-01T00:00:00")
    assert code == 2 and "offset" in err
    assert stored_files(root) == before
    assert await entries(api, "retention.purged") == []


async def test_purging_over_http_needs_an_admin_and_uses_the_server_clock(
        api, sealed_consult, clock):
    consult_id = sealed_consult.consult_id
    for headers in (AUDITOR, api.bearer(sealed_consult.physician_token),
                    api.bearer(sealed_consult.guardian_token)):
        response = await api.client.post("/api/retention/purge", json={"dry_run": False},
                                         headers=headers)
        assert response.status == 403
    assert (await api.client.post("/api/retention/purge", json={"dry_run": False})).status == 401
    refusals = await entries(api, "access.refused")
    assert [e.actor_role for e in refusals] == ["auditor", "physician", "guardian", "anonymous"]
    assert await entries(api, "retention.purged") == []

    dry = await api.client.post("/api/retention/purge", json={"dry_run": True}, headers=ADMIN)
    assert dry.status == 200 and (await dry.json())["would_purge"] == []
    clock.advance(timedelta(days=3 * 366))
    done = await (await api.client.post("/api/retention/purge", json={"dry_run": False},
                                        headers=ADMIN)).json()
    assert done["purged"] and not done["clock_override"]
    assert {e.actor_id for e in await entries(api, "retention.purged")} == {"alice"}
    result = await verify(api, consult_id)
    assert result["ok"] and not result["warnings"], result


async def test_a_deletion_dressed_up_as_a_purge_is_still_missing(api, sealed_consult):
    """Someone deletes the chat transcript and appends a purge entry to the (intact) chain:
    the rule, recomputed from the consult's own facts, says it had not expired."""
    consult_id = sealed_consult.consult_id
    root = api.services.storage.path_for(consult_prefix(consult_id))
    manifest = json.loads((root / "archive-manifest.json").read_bytes())
    chat = next(a for a in manifest["artefacts"] if a["path"] == "record/chat.json")
    (root / "record" / "chat.json").unlink()
    now = api.services.clock.now()
    async with api.services.db.transaction() as session:
        await audit_log.append(session, Actor("admin", "mallory"), "retention.purged",
                               consult_id=consult_id, at=now, details={
                                   "path": "record/chat.json", "sha256": chat["sha256"],
                                   "size": chat["size"], "retention_class": "process_record",
                                   "expires_at": now.isoformat(), "evaluated_at": now,
                                   "policy": {"process_record_years": 0,
                                              "medical_record_years": 0}})
    result = await verify(api, consult_id)
    assert not result["ok"]
    status = {a["path"]: a for a in result["artefacts"]}["record/chat.json"]
    assert status["status"] == "missing"
    assert "purged before its retention ended" in status["detail"]
