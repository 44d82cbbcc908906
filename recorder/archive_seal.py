"""Sealing a consult's archive: what it holds, under which retention class, and the sealed
manifest read back.

A consult's archive is its folder in the store (`consults/<id>/`): the record documents
written when the consult ends (consult with outcome and referral, intake, chat, the
consult's slice of the audit log), every file of its recordings folder, and its photos.
`seal_consult_archive` writes the documents, then fingerprints all of it into one manifest
(`archive_manifest.seal_archive`) and makes the files read-only. The caller writes the
manifest's hash into its audit chain, so a file changed afterwards fails verification and a
manifest swapped for another fails the chain.

Nothing here knows the database: the caller hands over the documents' content and the
photos' storage keys, and keeps the seal (`SealRecord`) where its audit chain vouches for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from recorder.archive_manifest import (
    ArtefactSpec,
    ManifestEntry,
    ManifestMissing,
    ManifestNotAsSealed,
    SealedManifest,
    parse_manifest,
    seal_archive,
)
from recorder.retention import RetentionClass
from recorder.storage import (
    ArtefactStorage,
    LocalDirectoryStorage,
    ObjectNotFound,
    StorageError,
    consult_prefix,
    key_join,
    recordings_key,
)

PROCESS, MEDICAL = RetentionClass.PROCESS_RECORD, RetentionClass.MEDICAL_RECORD
MEDIA_TYPES = {"webm": "video/webm", "mkv": "video/x-matroska", "jpg": "image/jpeg",
               "png": "image/png", "webp": "image/webp", "json": "application/json"}


@dataclass(frozen=True)
class RecordDocuments:
    """The consult's record as JSON-ready content, written into the archive when it is sealed.

    The chat is a process record (kept 3 years with the recordings); the rest is the
    medical record (15 years from the child's last visit).
    """

    consult: object  # the consult with its outcome and referral, as staff see it
    chat: object  # the chat transcript
    audit: object  # the consult's slice of the audit log
    intake: object | None = None  # None: the guardian filled no intake

    def by_path(self) -> dict[str, tuple[object, RetentionClass]]:
        documents: dict[str, tuple[object, RetentionClass]] = {
            "record/consult.json": (self.consult, MEDICAL),
            "record/chat.json": (self.chat, PROCESS),
            "record/audit.json": (self.audit, MEDICAL),
        }
        if self.intake is not None:
            documents["record/intake.json"] = (self.intake, MEDICAL)
        return documents


def encode_document(content: object) -> bytes:
    return json.dumps(content, ensure_ascii=False, sort_keys=True, indent=1,
                      default=str).encode()


def recording_artefacts(storage: LocalDirectoryStorage, consult_id: str) -> list[ArtefactSpec]:
    """Every file of the recordings folder, not only the listed segments: after a crash the
    untouched original, its recovery report and the retired marker are evidence of what
    happened and must verify like the repaired copy."""
    root = storage.path_for(consult_prefix(consult_id))
    recordings = storage.path_for(recordings_key(consult_id))
    if not recordings.is_dir():
        return []
    return [ArtefactSpec(file.relative_to(root).as_posix(), PROCESS,
                         MEDIA_TYPES.get(file.suffix.lstrip("."), "application/octet-stream"))
            for file in sorted(recordings.iterdir())
            if file.is_file() and not file.is_symlink() and not file.name.startswith(".")]


def photo_artefacts(consult_id: str, photo_keys: Iterable[str]) -> list[ArtefactSpec]:
    """Photos (and their thumbnails) are medical records, typed by their extension."""
    prefix = consult_prefix(consult_id)
    artefacts = []
    for key in photo_keys:
        relative = key.removeprefix(prefix + "/")
        artefacts.append(ArtefactSpec(relative, MEDICAL,
                                      MEDIA_TYPES[relative.rsplit(".", 1)[-1]]))
    return artefacts


def seal_consult_archive(storage: LocalDirectoryStorage, consult_id: str,
                         documents: RecordDocuments,
                         photo_keys: Iterable[str]) -> SealedManifest:
    """Write the record documents, then seal them with every recording file and photo;
    blocking (run it in an executor)."""
    prefix = consult_prefix(consult_id)
    listed = documents.by_path()
    for path, (content, _) in listed.items():
        storage.put(key_join(prefix, path), encode_document(content))
    artefacts = [ArtefactSpec(path, retention, MEDIA_TYPES["json"])
                 for path, (_, retention) in listed.items()]
    artefacts += recording_artefacts(storage, consult_id)
    artefacts += photo_artefacts(consult_id, photo_keys)
    return seal_archive(storage.path_for(prefix), artefacts, consult_id=consult_id)


# -- the sealed manifest, as the seal vouches for it ----------------------------------------


class SealRecord(Protocol):
    """Where a sealed manifest lies and the hash recorded when it was sealed (the server's
    `archives` row)."""

    @property
    def manifest_key(self) -> str: ...

    @property
    def manifest_sha256(self) -> str: ...


def archive_root_key(seal: SealRecord) -> str:
    """The archive root is the manifest's directory (consults/<id>)."""
    return seal.manifest_key.rsplit("/", 1)[0]


async def read_sealed_manifest(storage: ArtefactStorage,
                               seal: SealRecord) -> list[ManifestEntry]:
    """The sealed manifest's entries; a `ManifestProblem` if it is missing, unreadable, or
    no longer hashes to the sealed value."""
    loop = asyncio.get_running_loop()
    try:
        raw = await loop.run_in_executor(None, storage.read, seal.manifest_key)
    except (ObjectNotFound, StorageError) as error:
        raise ManifestMissing(f"the manifest {seal.manifest_key} is missing ({error})") \
            from None
    actual = hashlib.sha256(raw).hexdigest()
    if actual != seal.manifest_sha256:
        raise ManifestNotAsSealed(f"the manifest's hash is {actual}, not the sealed "
                                  f"{seal.manifest_sha256}")
    return parse_manifest(raw)
