"""Sealing a consult's archive, and verifying it years later.

`seal_archive` fingerprints every artefact of a consult (SHA-256 + size), writes
`archive-manifest.json` at the archive root in a canonical encoding, makes the
files read-only and returns the manifest's own SHA-256. The server writes that
hash into its hash-chained audit log: from then on the audit log vouches for the
manifest and the manifest for every byte of the archive.

`verify_manifest` recomputes everything and names each artefact that is
missing, changed, or unexpected, and whether the manifest itself differs from
the hash the audit log holds.

Artefact paths are storage keys relative to the archive root (see
`storage.validate_key`): no `..`, no absolute paths, no symlinks. An archive
holds regular files only, which is also all an object store can hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from recorder.durable_files import sha256_file, write_file_durably
from recorder.retention import RetentionClass
from recorder.storage import InvalidKey, validate_key

MANIFEST_NAME = "archive-manifest.json"
MANIFEST_FORMAT = "shouzhen-archive-manifest/1"
READ_ONLY_MODE = 0o444


class ArchiveError(Exception):
    """Base class of archive errors."""


class UnsafeArtefactPath(ArchiveError, ValueError):
    """The path could reach outside the archive root, or is not a plain file path."""


class ArtefactNotFound(ArchiveError, FileNotFoundError):
    pass


class DuplicateArtefact(ArchiveError, ValueError):
    pass


class ManifestAlreadySealed(ArchiveError, FileExistsError):
    """A sealed manifest is evidence; sealing again would replace it."""


class ManifestProblem(ArchiveError):
    """The sealed manifest is missing, unreadable, or no longer the one that was sealed."""


class ManifestMissing(ManifestProblem, FileNotFoundError):
    pass


class ManifestMalformed(ManifestProblem, ValueError):
    pass


class ManifestNotAsSealed(ManifestProblem):
    """The manifest's hash differs from the one the seal recorded."""


@dataclass(frozen=True, slots=True)
class ArtefactSpec:
    path: str  # relative to the archive root, '/'-separated
    retention_class: RetentionClass
    media_type: str  # e.g. "video/webm", "application/json"


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str
    retention_class: RetentionClass
    media_type: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class SealedManifest:
    root: Path
    manifest_path: Path
    manifest_sha256: str
    entries: tuple[ManifestEntry, ...]


@dataclass(frozen=True, slots=True)
class ChangedArtefact:
    path: str
    reason: Literal["content", "not_a_regular_file"]
    expected_sha256: str
    actual_sha256: str | None
    expected_size: int
    actual_size: int | None


@dataclass(frozen=True, slots=True)
class ManifestVerification:
    root: Path
    manifest_sha256: str
    expected_manifest_sha256: str | None
    # None when no expected hash was given: only the audit log can vouch for it.
    manifest_changed: bool | None
    # A manifest edited by hand rarely keeps the canonical encoding.
    manifest_canonical: bool
    verified: tuple[str, ...]
    missing: tuple[str, ...]
    changed: tuple[ChangedArtefact, ...]
    unexpected: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return (
            not self.missing
            and not self.changed
            and not self.unexpected
            and self.manifest_changed is not True
            and self.manifest_canonical
        )


def canonical_json(document: dict[str, Any]) -> bytes:
    """One byte sequence per document: sorted keys, no spaces, UTF-8, newline."""
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8") + b"\n"


def _check_relative(relative: str) -> str:
    if relative == MANIFEST_NAME:
        raise UnsafeArtefactPath("the manifest cannot list itself")
    try:
        return validate_key(relative)
    except InvalidKey as exc:
        raise UnsafeArtefactPath(str(exc)) from None


def resolve_artefact(root: Path, relative: str) -> Path:
    """Absolute path of an artefact, refusing anything that leaves the root.

    Every component is checked with lstat: a symlink anywhere on the way is
    refused, whether it points out of the root (traversal) or inside it.
    """
    root = Path(root).resolve()
    path = root
    for part in _check_relative(relative).split("/"):
        path = path / part
        if path.is_symlink():
            target = path.resolve()
            where = "outside" if root not in target.parents else "inside"
            raise UnsafeArtefactPath(f"{relative!r} goes through a symlink to {where} the root")
    return path


def seal_archive(
    root: Path,
    artefacts: Iterable[ArtefactSpec],
    *,
    consult_id: str,
    sealed_at: datetime | None = None,
    make_read_only: bool = True,
) -> SealedManifest:
    """Fingerprint the artefacts, write the manifest, lock the files; blocking."""
    root = Path(root).resolve()
    manifest_path = root / MANIFEST_NAME
    if manifest_path.exists() or manifest_path.is_symlink():
        raise ManifestAlreadySealed(str(manifest_path))
    moment = sealed_at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("sealed_at must carry a time zone")

    entries: list[ManifestEntry] = []
    seen: set[str] = set()
    for spec in artefacts:
        path = resolve_artefact(root, spec.path)
        if spec.path in seen:
            raise DuplicateArtefact(spec.path)
        seen.add(spec.path)
        if not path.exists():
            raise ArtefactNotFound(spec.path)
        if not stat.S_ISREG(path.lstat().st_mode):
            raise UnsafeArtefactPath(f"{spec.path!r} is not a regular file")
        digest = sha256_file(path)
        entries.append(
            ManifestEntry(
                spec.path,
                RetentionClass(spec.retention_class),
                spec.media_type,
                digest.sha256,
                digest.size,
            )
        )
    entries.sort(key=lambda e: e.path)

    document = {
        "format": MANIFEST_FORMAT,
        "consult_id": consult_id,
        "sealed_at": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "hash_algorithm": "sha256",
        "artefacts": [
            {
                "path": e.path,
                "retention_class": e.retention_class.value,
                "media_type": e.media_type,
                "sha256": e.sha256,
                "size": e.size,
            }
            for e in entries
        ],
    }
    encoded = canonical_json(document)
    write_file_durably(manifest_path, encoded)
    if make_read_only:
        for entry in entries:
            os.chmod(root.joinpath(*entry.path.split("/")), READ_ONLY_MODE)
        os.chmod(manifest_path, READ_ONLY_MODE)
    return SealedManifest(root, manifest_path, hashlib.sha256(encoded).hexdigest(), tuple(entries))


def parse_manifest(raw: bytes) -> list[ManifestEntry]:
    """The entries of a manifest document; ManifestMalformed if it is not one."""
    try:
        document = json.loads(raw.decode("utf-8"))
        if document.get("format") != MANIFEST_FORMAT:
            raise ManifestMalformed(f"unknown manifest format {document.get('format')!r}")
        return [
            ManifestEntry(
                path=str(item["path"]),
                retention_class=RetentionClass(item["retention_class"]),
                media_type=str(item["media_type"]),
                sha256=str(item["sha256"]),
                size=int(item["size"]),
            )
            for item in document["artefacts"]
        ]
    except ManifestMalformed:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestMalformed(f"the manifest cannot be read: {exc!r}") from None


def _load_manifest(manifest_path: Path) -> tuple[bytes, list[ManifestEntry]]:
    if manifest_path.is_symlink() or not manifest_path.is_file():
        raise ManifestMissing(str(manifest_path))
    raw = manifest_path.read_bytes()
    try:
        return raw, parse_manifest(raw)
    except ManifestMalformed as exc:
        raise ManifestMalformed(f"{manifest_path}: {exc}") from None


def verify_manifest(
    root: Path, expected_manifest_sha256: str | None = None
) -> ManifestVerification:
    """Recompute every fingerprint; blocking. Raises UnsafeArtefactPath for a
    manifest that points outside the root (nothing outside is ever read)."""
    root = Path(root).resolve()
    manifest_path = root / MANIFEST_NAME
    raw, entries = _load_manifest(manifest_path)
    manifest_sha = hashlib.sha256(raw).hexdigest()
    try:
        canonical = canonical_json(json.loads(raw.decode("utf-8"))) == raw
    except ValueError:
        canonical = False

    verified: list[str] = []
    missing: list[str] = []
    changed: list[ChangedArtefact] = []
    listed: set[str] = set()
    for entry in entries:
        listed.add(entry.path)
        _check_relative(entry.path)  # `..` or an absolute path: refuse before any I/O
        try:
            path = resolve_artefact(root, entry.path)
        except UnsafeArtefactPath:
            if root.joinpath(*entry.path.split("/")).is_symlink():
                # The listed file itself was swapped for a link: that is a change.
                changed.append(
                    ChangedArtefact(
                        entry.path, "not_a_regular_file", entry.sha256, None, entry.size, None
                    )
                )
                continue
            raise
        if not os.path.lexists(path):
            missing.append(entry.path)
            continue
        if not stat.S_ISREG(path.lstat().st_mode):
            changed.append(
                ChangedArtefact(
                    entry.path, "not_a_regular_file", entry.sha256, None, entry.size, None
                )
            )
            continue
        digest = sha256_file(path)
        if digest.sha256 != entry.sha256 or digest.size != entry.size:
            changed.append(
                ChangedArtefact(
                    entry.path, "content", entry.sha256, digest.sha256, entry.size, digest.size
                )
            )
        else:
            verified.append(entry.path)

    unexpected = sorted(p for p in _files_under(root) if p not in listed and p != MANIFEST_NAME)
    return ManifestVerification(
        root=root,
        manifest_sha256=manifest_sha,
        expected_manifest_sha256=expected_manifest_sha256,
        manifest_changed=(
            None if expected_manifest_sha256 is None else manifest_sha != expected_manifest_sha256
        ),
        manifest_canonical=canonical,
        verified=tuple(verified),
        missing=tuple(missing),
        changed=tuple(changed),
        unexpected=tuple(unexpected),
    )


def _files_under(root: Path) -> Iterable[str]:
    """Every non-directory entry under root, symlinks included but never followed."""
    for directory, subdirectories, files in os.walk(root):
        for name in list(subdirectories):
            if os.path.islink(os.path.join(directory, name)):
                subdirectories.remove(name)
                files.append(name)  # a symlinked directory is an unexpected entry
        for name in files:
            yield Path(directory, name).relative_to(root).as_posix()
