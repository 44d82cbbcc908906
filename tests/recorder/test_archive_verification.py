"""Verifying a sealed archive's files: each artefact verified, changed, missing, purged or
unexpected, and a file that is gone counts as purged only when a lawful purge accounts for
it."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from recorder.archive_export import present_and_absent
from recorder.archive_manifest import (
    MANIFEST_NAME,
    ArtefactSpec,
    UnsafeArtefactPath,
    parse_manifest,
    seal_archive,
)
from recorder.archive_verification import RetentionEvidence, verify_archive_files
from recorder.purge_evidence import PurgeRecord
from recorder.retention import HoldPeriod, RetentionClass, RetentionPolicy

SHANGHAI = ZoneInfo("Asia/Shanghai")
ENDED = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)
PURGED_AT = datetime(2029, 11, 22, 1, tzinfo=UTC)  # the day after the third anniversary
PROCESS, MEDICAL = RetentionClass.PROCESS_RECORD, RetentionClass.MEDICAL_RECORD


def sealed(root: Path) -> str:
    files = {"recordings/guardian-001.webm": (b"\x1a\x45\xdf\xa3" * 50, PROCESS),
             "record/chat.json": (b"[]", PROCESS),
             "record/intake.json": (b'{"height_cm": 92}', MEDICAL)}
    for relative, (data, _) in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    manifest = seal_archive(root, [ArtefactSpec(path, retention, "application/octet-stream")
                                   for path, (_, retention) in files.items()],
                            consult_id="c1", make_read_only=False)
    return manifest.manifest_sha256


def purge_of(root: Path, path: str, **changes: object) -> PurgeRecord:
    entry = next(e for e in parse_manifest((root / MANIFEST_NAME).read_bytes())
                 if e.path == path)
    values: dict[str, object] = dict(
        seq=7, at=PURGED_AT, actor_role="admin", actor_id="alice", path=path,
        sha256=entry.sha256, size=entry.size, retention_class=entry.retention_class.value,
        expires_at=datetime(2029, 11, 21, tzinfo=SHANGHAI), evaluated_at=PURGED_AT,
        clock_override=False, policy=RetentionPolicy())
    values.update(changes)
    return PurgeRecord(**values)  # type: ignore[arg-type]


def evidence(purges: dict[str, PurgeRecord], holds: list[HoldPeriod] | None = None
             ) -> RetentionEvidence:
    return RetentionEvidence(purges, ENDED, [ENDED], holds or [])


def test_an_untouched_archive_verifies_every_artefact(tmp_path: Path) -> None:
    verdict = verify_archive_files(tmp_path, sealed(tmp_path), evidence({}), SHANGHAI)
    assert verdict.problems == [] and verdict.warnings == []
    assert [(a.path, a.status) for a in verdict.artefacts] == [
        ("record/chat.json", "verified"), ("record/intake.json", "verified"),
        ("recordings/guardian-001.webm", "verified")]
    assert verdict.manifest["matches_seal"] and verdict.manifest["canonical"]


def test_each_kind_of_damage_is_named_and_a_lawful_purge_is_not_damage(tmp_path: Path) -> None:
    seal = sealed(tmp_path)
    chat = purge_of(tmp_path, "record/chat.json")
    (tmp_path / "record/chat.json").unlink()  # purged, and a purge entry accounts for it
    (tmp_path / "recordings/guardian-001.webm").unlink()  # gone without a word
    (tmp_path / "record/intake.json").write_bytes(b'{"height_cm": 29}')
    (tmp_path / "record/extra.json").write_bytes(b"{}")
    verdict = verify_archive_files(tmp_path, seal, evidence({"record/chat.json": chat}),
                                   SHANGHAI)
    assert {a.path: a.status for a in verdict.artefacts} == {
        "record/chat.json": "purged", "record/intake.json": "changed",
        "recordings/guardian-001.webm": "missing", "record/extra.json": "unexpected"}
    assert len(verdict.problems) == 3
    assert not any("record/chat.json" in problem for problem in verdict.problems)


def test_a_purge_under_a_legal_hold_leaves_the_file_missing(tmp_path: Path) -> None:
    seal = sealed(tmp_path)
    chat = purge_of(tmp_path, "record/chat.json")
    (tmp_path / "record/chat.json").unlink()
    held = [HoldPeriod(datetime(2029, 1, 1, tzinfo=UTC), None)]
    verdict = verify_archive_files(tmp_path, seal, evidence({"record/chat.json": chat}, held),
                                   SHANGHAI)
    (check,) = [a for a in verdict.artefacts if a.path == "record/chat.json"]
    assert check.status == "missing" and "legal hold" in (check.detail or "")


def test_a_manifest_other_than_the_sealed_one_fails(tmp_path: Path) -> None:
    sealed(tmp_path)
    verdict = verify_archive_files(tmp_path, "00" * 32, evidence({}), SHANGHAI)
    assert not verdict.manifest["matches_seal"]
    assert verdict.problems[0].startswith(f"{MANIFEST_NAME}: changed since sealing")

    os.remove(tmp_path / MANIFEST_NAME)
    gone = verify_archive_files(tmp_path, "00" * 32, evidence({}), SHANGHAI)
    assert gone.problems == [f"{MANIFEST_NAME}: missing"] and gone.artefacts == []


def test_the_export_sorts_stored_from_gone_and_refuses_a_path_out_of_the_archive(
    tmp_path: Path,
) -> None:
    sealed(tmp_path)
    entries = parse_manifest((tmp_path / MANIFEST_NAME).read_bytes())
    chat = purge_of(tmp_path, "record/chat.json")
    (tmp_path / "record/chat.json").unlink()
    present, absent = present_and_absent(tmp_path, entries, {"record/chat.json": chat})
    assert [e.path for e in present] == ["record/intake.json", "recordings/guardian-001.webm"]
    assert [(e.path, record) for e, record in absent] == [("record/chat.json", chat)]

    (tmp_path / "record/chat.json").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArtefactPath, match=r"record/chat\.json"):
        present_and_absent(tmp_path, entries, {})
