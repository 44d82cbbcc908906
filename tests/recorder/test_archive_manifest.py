"""Sealing an archive, then catching every kind of tampering with it."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder.archive_manifest import (
    MANIFEST_NAME,
    ArtefactNotFound,
    ArtefactSpec,
    DuplicateArtefact,
    ManifestAlreadySealed,
    ManifestMalformed,
    UnsafeArtefactPath,
    canonical_json,
    seal_archive,
    verify_manifest,
)
from recorder.retention import RetentionClass

PROCESS = RetentionClass.PROCESS_RECORD
MEDICAL = RetentionClass.MEDICAL_RECORD
SEALED_AT = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)


def make_archive(root: Path) -> list[ArtefactSpec]:
    files = {
        "recordings/guardian-001.webm": (
            b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 40,
            PROCESS,
            "video/webm",
        ),
        "recordings/physician-001.mkv": (
            b"\x1a\x45\xdf\xa3" + b"mkv" * 500,
            PROCESS,
            "video/x-matroska",
        ),
        "chat/messages.jsonl": ('{"text":"孩子发烧两天"}\n'.encode(), PROCESS, "application/jsonl"),
        "photos/capture-1.jpg": (b"\xff\xd8\xff" + b"jpeg" * 100, MEDICAL, "image/jpeg"),
        "outcome.json": (b'{"outcome":"referred"}', MEDICAL, "application/json"),
    }
    specs = []
    for relative, (data, retention_class, media_type) in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        specs.append(ArtefactSpec(relative, retention_class, media_type))
    return specs


def writable(path: Path) -> None:
    os.chmod(path, 0o644)


def test_sealing_writes_a_canonical_manifest_and_locks_the_files(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    specs = make_archive(root)
    sealed = seal_archive(root, reversed(specs), consult_id="c-42", sealed_at=SEALED_AT)

    raw = (root / MANIFEST_NAME).read_bytes()
    document = json.loads(raw)
    assert canonical_json(document) == raw
    assert [a["path"] for a in document["artefacts"]] == sorted(s.path for s in specs)
    assert document["sealed_at"] == "2025-06-01T08:30:00Z"
    assert sealed.manifest_sha256 == hashlib.sha256(raw).hexdigest()
    entry = next(e for e in sealed.entries if e.path == "outcome.json")
    assert entry.sha256 == hashlib.sha256(b'{"outcome":"referred"}').hexdigest()
    assert entry.size == 22 and entry.retention_class is MEDICAL
    for relative in [s.path for s in specs] + [MANIFEST_NAME]:
        assert stat.S_IMODE((root / relative).stat().st_mode) == 0o444

    # Same inputs, same bytes: the encoding is stable.
    other = tmp_path / "copy"
    make_archive(other)
    again = seal_archive(other, specs, consult_id="c-42", sealed_at=SEALED_AT)
    assert again.manifest_sha256 == sealed.manifest_sha256

    result = verify_manifest(root, sealed.manifest_sha256)
    assert result.ok and result.manifest_changed is False
    assert sorted(result.verified) == sorted(s.path for s in specs)
    with pytest.raises(ManifestAlreadySealed):
        seal_archive(root, specs, consult_id="c-42")


def test_verify_names_the_tampered_the_deleted_and_the_added_file(tmp_path: Path) -> None:
    sealed = seal_archive(tmp_path, make_archive(tmp_path), consult_id="c-42")

    video = tmp_path / "recordings/guardian-001.webm"
    writable(video)
    data = bytearray(video.read_bytes())
    data[100] ^= 0x01  # one bit of one byte, same size
    video.write_bytes(bytes(data))
    writable(tmp_path / "photos/capture-1.jpg")
    (tmp_path / "photos/capture-1.jpg").unlink()
    (tmp_path / "photos/capture-2.jpg").write_bytes(b"\xff\xd8\xff planted")

    result = verify_manifest(tmp_path, sealed.manifest_sha256)
    assert not result.ok
    assert [c.path for c in result.changed] == ["recordings/guardian-001.webm"]
    changed = result.changed[0]
    assert changed.reason == "content" and changed.actual_size == changed.expected_size
    assert changed.actual_sha256 != changed.expected_sha256
    assert result.missing == ("photos/capture-1.jpg",)
    assert result.unexpected == ("photos/capture-2.jpg",)
    assert result.manifest_changed is False
    assert set(result.verified) == {
        "recordings/physician-001.mkv",
        "chat/messages.jsonl",
        "outcome.json",
    }


def test_an_edited_manifest_is_caught_by_the_audit_log_hash(tmp_path: Path) -> None:
    sealed = seal_archive(tmp_path, make_archive(tmp_path), consult_id="c-42")
    # The forger swaps the chat log and rewrites its manifest entry to match,
    # keeping the canonical encoding: only the audit log's hash can tell.
    chat = tmp_path / "chat/messages.jsonl"
    writable(chat)
    chat.write_bytes(b'{"text":"nothing said"}\n')
    manifest = tmp_path / MANIFEST_NAME
    writable(manifest)
    document = json.loads(manifest.read_bytes())
    for item in document["artefacts"]:
        if item["path"] == "chat/messages.jsonl":
            item["sha256"] = hashlib.sha256(chat.read_bytes()).hexdigest()
            item["size"] = len(chat.read_bytes())
    manifest.write_bytes(canonical_json(document))

    result = verify_manifest(tmp_path, sealed.manifest_sha256)
    assert result.manifest_changed is True and not result.ok
    assert result.changed == () and result.missing == ()
    assert verify_manifest(tmp_path).manifest_changed is None  # no reference, no verdict

    # A hand edit that breaks the canonical form is visible even without the hash.
    manifest.write_bytes(json.dumps(document, indent=2).encode())
    assert not verify_manifest(tmp_path).manifest_canonical


@pytest.mark.parametrize(
    "bad",
    [
        "../outside.txt",
        "/etc/passwd",
        "recordings/../../x",
        "a//b",
        "./a",
        "a\\..\\b",
        "",
        ".hidden",
        MANIFEST_NAME,
    ],
)
def test_unsafe_paths_are_refused_with_a_typed_error(tmp_path: Path, bad: str) -> None:
    make_archive(tmp_path)
    with pytest.raises(UnsafeArtefactPath):
        seal_archive(tmp_path, [ArtefactSpec(bad, PROCESS, "text/plain")], consult_id="c")
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_symlinks_leaving_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (root / "link.txt").symlink_to(secret)
    (root / "dir").symlink_to(tmp_path)
    for relative in ("link.txt", "dir/secret.txt"):
        with pytest.raises(UnsafeArtefactPath, match="outside"):
            seal_archive(root, [ArtefactSpec(relative, PROCESS, "text/plain")], consult_id="c")


def test_a_manifest_pointing_outside_the_root_is_refused_at_verification(tmp_path: Path) -> None:
    seal_archive(tmp_path, make_archive(tmp_path), consult_id="c-42")
    manifest = tmp_path / MANIFEST_NAME
    writable(manifest)
    document = json.loads(manifest.read_bytes())
    document["artefacts"][0]["path"] = "../../etc/passwd"
    manifest.write_bytes(canonical_json(document))
    with pytest.raises(UnsafeArtefactPath):
        verify_manifest(tmp_path)


def test_an_artefact_swapped_for_a_symlink_counts_as_changed(tmp_path: Path) -> None:
    sealed = seal_archive(tmp_path, make_archive(tmp_path), consult_id="c-42")
    target = tmp_path / "outcome.json"
    writable(target)
    copy = tmp_path.parent / f"{tmp_path.name}-outcome-copy.json"
    copy.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(copy)
    result = verify_manifest(tmp_path, sealed.manifest_sha256)
    assert [(c.path, c.reason) for c in result.changed] == [("outcome.json", "not_a_regular_file")]


def test_sealing_refuses_missing_duplicate_and_malformed_input(tmp_path: Path) -> None:
    specs = make_archive(tmp_path)
    with pytest.raises(ArtefactNotFound):
        seal_archive(tmp_path, [ArtefactSpec("nope.bin", PROCESS, "x/y")], consult_id="c")
    with pytest.raises(DuplicateArtefact):
        seal_archive(tmp_path, [specs[0], specs[0]], consult_id="c")
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ManifestMalformed):
        verify_manifest(tmp_path)
