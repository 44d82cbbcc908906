"""Verify and export a sealed consult: it verifies as sealed; one changed byte in any file,
an edited manifest, a deleted or an added file each fail verification and are named; the
export holds the manifest and every artefact, and its hashes check out against the manifest
and the manifest against the audit chain."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import sqlalchemy as sa

from recorder.archive_manifest import MANIFEST_NAME
from recorder.storage import consult_prefix
from server.kernel.models import ArchiveRow, AuditEntryRow, RecordingSegmentRow

from .conftest import AUDITOR, book_now, tamper


async def verify(api, consult_id) -> dict:
    response = await api.client.post(f"/api/replay/consults/{consult_id}/verify",
                                     headers=AUDITOR)
    assert response.status == 200, await response.text()
    return await response.json()


def root_of(api, consult_id):
    return api.services.storage.path_for(consult_prefix(consult_id))


async def last_entry(api, action) -> AuditEntryRow:
    async with api.services.db.reading() as session:
        return (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == action).order_by(AuditEntryRow.seq.desc()).limit(1))).one()


async def test_a_sealed_consult_verifies_and_the_verification_is_audited(api, sealed_consult):
    result = await verify(api, sealed_consult.consult_id)
    assert result["ok"], result["problems"]
    assert result["problems"] == [] and result["chain"]["ok"]
    assert result["manifest"]["matches_seal"] and result["manifest"]["sealed_entry_seq"]
    assert result["manifest"]["sha256"] == result["manifest"]["sealed_sha256"]
    statuses = {a["path"]: a["status"] for a in result["artefacts"]}
    assert set(statuses.values()) == {"verified"}
    assert {"record/consult.json", "record/chat.json", "record/audit.json",
            "record/intake.json"} <= set(statuses)
    async with api.services.db.reading() as session:
        segments = (await session.scalars(sa.select(RecordingSegmentRow).where(
            RecordingSegmentRow.consult_id == sealed_consult.consult_id))).all()
    assert {s.participant for s in segments} == {"physician", "guardian"}
    assert sum(p.startswith("recordings/") for p in statuses) == len(segments)
    assert sum(p.startswith("photos/") for p in statuses) == 4
    entry = await last_entry(api, "archive.verified")
    assert entry.actor_role == "auditor" and entry.consult_id == sealed_consult.consult_id
    assert json.loads(entry.details)["ok"] is True


async def test_one_changed_byte_in_a_recording_fails_verification_and_names_it(
        api, sealed_consult):
    consult_id = sealed_consult.consult_id
    async with api.services.db.reading() as session:
        segment = (await session.scalars(sa.select(RecordingSegmentRow).where(
            RecordingSegmentRow.consult_id == consult_id, RecordingSegmentRow.participant ==
            "guardian"))).first()
    tamper(api.services.storage.path_for(segment.storage_key), at=5000)
    result = await verify(api, consult_id)
    assert not result["ok"]
    changed = [a for a in result["artefacts"] if a["status"] == "changed"]
    relative = segment.storage_key.removeprefix(consult_prefix(consult_id) + "/")
    assert [a["path"] for a in changed] == [relative]
    assert changed[0]["expected_sha256"] == segment.sha256
    assert changed[0]["actual_sha256"] != segment.sha256
    assert changed[0]["actual_size"] == changed[0]["expected_size"], "same size, one byte"
    assert result["problems"] == [f"{relative}: changed since sealing ({changed[0]['detail']})"]
    assert result["counts"]["verified"] == len(result["artefacts"]) - 1
    entry = json.loads((await last_entry(api, "archive.verified")).details)
    assert entry["ok"] is False and relative in entry["problems"][0]


async def test_a_changed_record_document_is_named_too(api, sealed_consult):
    consult_id = sealed_consult.consult_id
    tamper(root_of(api, consult_id) / "record" / "intake.json", at=10)
    result = await verify(api, consult_id)
    assert not result["ok"]
    assert [a["path"] for a in result["artefacts"] if a["status"] == "changed"] == [
        "record/intake.json"]


async def test_an_edited_manifest_fails_verification_even_when_it_matches_a_changed_file(
        api, sealed_consult):
    """Someone changes a photo and writes its new hash into the manifest: every artefact
    matches the manifest, but the manifest no longer matches the audit chain's seal."""
    consult_id = sealed_consult.consult_id
    root = root_of(api, consult_id)
    manifest_path = root / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_bytes())
    photo = next(a for a in manifest["artefacts"] if a["path"].startswith("photos/"))
    tamper(root / photo["path"], at=200)
    photo["sha256"] = hashlib.sha256((root / photo["path"]).read_bytes()).hexdigest()
    manifest_path.chmod(0o644)
    manifest_path.write_bytes(json.dumps(manifest, sort_keys=True, separators=(",", ":"),
                                         ensure_ascii=False).encode() + b"\n")
    result = await verify(api, consult_id)
    assert not result["ok"]
    assert result["manifest"]["matches_seal"] is False
    assert result["problems"][0].startswith(f"{MANIFEST_NAME}: changed since sealing")
    assert result["manifest"]["sha256"] != result["manifest"]["sealed_sha256"]
    async with api.services.db.reading() as session:
        archive = await session.get(ArchiveRow, consult_id)
    assert result["manifest"]["sealed_sha256"] == archive.manifest_sha256


async def test_a_manifest_pointing_outside_the_archive_is_refused_without_reading_there(
        api, sealed_consult, tmp_path):
    consult_id = sealed_consult.consult_id
    manifest_path = root_of(api, consult_id) / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_bytes())
    manifest["artefacts"].append({"path": "../../../secrets.json", "retention_class":
                                  "medical_record", "media_type": "application/json",
                                  "sha256": "0" * 64, "size": 1})
    manifest_path.chmod(0o644)
    manifest_path.write_text(json.dumps(manifest))
    result = await verify(api, consult_id)
    assert not result["ok"]
    assert "lists a path outside the archive" in result["problems"][-1]
    export = await api.client.get(f"/api/replay/consults/{consult_id}/export", headers=AUDITOR)
    assert export.status == 409


async def test_a_deleted_file_is_missing_and_an_added_one_unexpected(api, sealed_consult):
    consult_id = sealed_consult.consult_id
    root = root_of(api, consult_id)
    (root / "record" / "chat.json").unlink()
    (root / "recordings" / "extra.webm").write_bytes(b"not sealed")
    result = await verify(api, consult_id)
    assert not result["ok"]
    by_status = {a["status"]: a["path"] for a in result["artefacts"]
                 if a["status"] != "verified"}
    assert by_status == {"missing": "record/chat.json", "unexpected": "recordings/extra.webm"}
    assert "record/chat.json: missing, and no retention purge accounts for it" in \
        result["problems"]


async def test_a_broken_audit_chain_fails_verification(api, sealed_consult):
    async with api.services.db.transaction() as session:
        await session.execute(sa.update(AuditEntryRow).where(
            AuditEntryRow.action == "chat.message").values(details='{"text":"edited"}'))
    result = await verify(api, sealed_consult.consult_id)
    assert not result["ok"] and not result["chain"]["ok"]
    assert result["problems"][0].startswith("audit chain broken at entry")


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers()
                if m.isfile()}


async def test_the_export_holds_the_manifest_and_artefacts_whose_hashes_match(
        api, sealed_consult):
    consult_id = sealed_consult.consult_id
    response = await api.client.get(f"/api/replay/consults/{consult_id}/export",
                                    headers=AUDITOR)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "application/x-tar"
    assert f"shouzhen-consult-{consult_id}.tar" in response.headers["Content-Disposition"]
    files = members(await response.read())
    manifest_bytes = files[MANIFEST_NAME]
    manifest = json.loads(manifest_bytes)
    async with api.services.db.reading() as session:
        archive = await session.get(ArchiveRow, consult_id)
    assert hashlib.sha256(manifest_bytes).hexdigest() == archive.manifest_sha256
    for artefact in manifest["artefacts"]:
        content = files[artefact["path"]]
        assert hashlib.sha256(content).hexdigest() == artefact["sha256"], artefact["path"]
        assert len(content) == artefact["size"]
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode()
                .splitlines())
    assert sums[MANIFEST_NAME] == archive.manifest_sha256
    assert all(hashlib.sha256(files[path]).hexdigest() == digest for path, digest
               in sums.items())
    seal = json.loads(files["seal.json"])
    assert seal["sealed_audit_entry"]["action"] == "archive.sealed"
    assert archive.manifest_sha256 in seal["sealed_audit_entry"]["details"]
    assert seal["chain_at_export"]["ok"]
    verification = json.loads(files["verification.json"])
    assert verification["all_artefacts_match"] and verification["manifest_matches_seal"]
    assert "sha256sum -c SHA256SUMS" in files["README.txt"].decode()
    assert set(files) == {"README.txt", "seal.json", MANIFEST_NAME, "SHA256SUMS",
                          "verification.json", *(a["path"] for a in manifest["artefacts"])}
    entry = await last_entry(api, "archive.exported")
    assert entry.actor_id == "audrey" and entry.consult_id == consult_id
    assert json.loads(entry.details)["manifest_sha256"] == archive.manifest_sha256


async def test_the_export_through_a_grant_is_the_same_archive(api, sealed_consult):
    consult_id = sealed_consult.consult_id
    grant = await (await api.client.post(f"/api/replay/consults/{consult_id}/playback",
                                         headers=AUDITOR)).json()
    response = await api.client.get(grant["export_url"])
    assert response.status == 200
    files = members(await response.read())
    assert MANIFEST_NAME in files and json.loads(files["verification.json"])[
        "all_artefacts_match"]
    assert json.loads((await last_entry(api, "archive.exported")).details)["via"] == "grant"


async def test_an_unsealed_consult_can_be_neither_exported_nor_verified(
        api, sealed_consult, clock):
    booked = await book_now(api, sealed_consult.physician_id, clock)
    consult_id = booked["consult"]["id"]
    for method, path in (("GET", "export"), ("POST", "verify")):
        response = await api.client.request(method, f"/api/replay/consults/{consult_id}/{path}",
                                            headers=AUDITOR)
        assert response.status == 409
        problem = await response.json()
        assert problem["code"] == "consult_not_sealed" and "booked" in problem["detail"]
    async with api.services.db.reading() as session:
        exported = (await session.scalars(sa.select(AuditEntryRow).where(
            AuditEntryRow.action == "archive.exported"))).all()
    assert exported == []
    missing = await api.client.get(
        "/api/replay/consults/00000000-0000-4000-8000-000000000000/export", headers=AUDITOR)
    assert missing.status == 404
