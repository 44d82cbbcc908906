"""The local object store: safe keys, write-once, byte ranges, read-only locks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from recorder.storage import (
    ArtefactStorage,
    InvalidKey,
    LocalDirectoryStorage,
    ObjectExists,
    ObjectNotFound,
    ObjectReadOnly,
    archive_manifest_key,
    recording_key,
    validate_key,
)


@pytest.fixture
def storage(tmp_path: Path) -> LocalDirectoryStorage:
    return LocalDirectoryStorage(tmp_path / "store")


def test_keys_follow_the_bucket_layout(storage: LocalDirectoryStorage) -> None:
    key = recording_key("c-42", "guardian", 3, "webm")
    assert key == "consults/c-42/recordings/guardian-003.webm"
    assert archive_manifest_key("c-42") == "consults/c-42/archive-manifest.json"
    assert storage.path_for(key) == storage.root / "consults/c-42/recordings/guardian-003.webm"
    assert isinstance(storage, ArtefactStorage)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/abs",
        "a/../b",
        "..",
        "a/./b",
        "a//b",
        "a/",
        ".hidden",
        "a\\b",
        "a\x00b",
        "ü/x",
        "consults/" + "x" * 1100,
    ],
)
def test_unsafe_keys_are_refused(storage: LocalDirectoryStorage, bad: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(bad)
    with pytest.raises(InvalidKey):
        storage.put(bad, b"x")


def test_a_symlinked_directory_cannot_lead_keys_out_of_the_root(
    storage: LocalDirectoryStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (storage.root / "consults").symlink_to(outside)
    with pytest.raises(InvalidKey):
        storage.put("consults/c-1/x.json", b"{}")
    assert list(outside.iterdir()) == []


def test_put_is_write_once_and_reads_byte_ranges(storage: LocalDirectoryStorage) -> None:
    key = "consults/c-1/recordings/guardian-001.webm"
    data = bytes(range(256)) * 20
    assert storage.put(key, io.BytesIO(data)).size == len(data)
    with pytest.raises(ObjectExists):
        storage.put(key, b"replacement")
    assert storage.read(key) == data
    assert storage.read(key, 10, 5) == data[10:15]
    assert storage.read(key, len(data) - 3) == data[-3:]
    assert storage.read(key, len(data) + 10, 5) == b""
    assert b"".join(storage.iter_range(key, 100, 1000, chunk_size=7)) == data[100:1100]
    assert storage.size(key) == len(data)
    with pytest.raises(ObjectNotFound):
        storage.read("consults/c-1/none.bin")
    # No temporary files left behind, and list() shows only objects.
    storage.put("consults/c-1/chat.jsonl", b"{}\n")
    storage.put("consults/c-2/chat.jsonl", b"{}\n")
    assert storage.list("consults/c-1") == [
        "consults/c-1/chat.jsonl",
        "consults/c-1/recordings/guardian-001.webm",
    ]
    assert len(storage.list()) == 3


def test_read_only_objects_need_a_governance_bypass_to_delete(
    storage: LocalDirectoryStorage,
) -> None:
    key = "consults/c-1/outcome.json"
    storage.put(key, b"{}")
    storage.make_read_only(key)
    assert storage.is_read_only(key)
    with pytest.raises(ObjectReadOnly):
        storage.delete(key)
    assert storage.exists(key)
    storage.delete(key, bypass_governance=True)
    assert not storage.exists(key)
    other = "consults/c-1/draft.json"
    storage.put(other, b"{}")
    storage.delete(other)
    assert storage.list() == []
