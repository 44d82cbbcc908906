"""Where archived artefacts live: a small object-store interface and a local one.

Keys are S3-style: `/`-separated, each part `[A-Za-z0-9][A-Za-z0-9._-]*`, at most
1024 bytes. The layout

    consults/<consult_id>/recordings/<participant>-<NNN>.webm
    consults/<consult_id>/archive-manifest.json
    …

is the same on a local disk (one file per key under the root) and in an
S3-compatible bucket, so moving to object storage with Object Lock is a copy,
not a migration. `make_read_only` is the local stand-in for an Object Lock
retention; `delete` refuses a read-only object unless the caller says it is
bypassing governance (S3's `x-amz-bypass-governance-retention`), which the purge
job does only after `retention.is_purgeable` said yes.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from recorder.durable_files import fsync_directory

MAX_KEY_BYTES = 1024
_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_CHUNK = 1 << 20
_TEMPORARY_PREFIX = ".put-"


class StorageError(Exception):
    """Base class of storage errors."""


class InvalidKey(StorageError, ValueError):
    """The key could escape its prefix, or would not map 1:1 onto a bucket."""


class ObjectNotFound(StorageError, KeyError):
    pass


class ObjectExists(StorageError):
    """Keys are written once: evidence is never silently replaced."""


class ObjectReadOnly(StorageError):
    """The object is locked; deleting it needs an explicit governance bypass."""


def validate_key(key: str) -> str:
    """Return `key` if it is safe, else raise InvalidKey.

    Refuses what could climb out of a prefix or mean different things on disk
    and in a bucket: empty parts (`a//b`, leading or trailing `/`), `.` and `..`,
    hidden names, backslashes, NUL and anything outside the portable set.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("empty key")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"key longer than {MAX_KEY_BYTES} bytes")
    for part in key.split("/"):
        if not _KEY_PART.match(part):
            raise InvalidKey(f"unsafe key part {part!r} in {key!r}")
    return key


def key_join(*parts: str) -> str:
    return validate_key("/".join(parts))


def consult_prefix(consult_id: str) -> str:
    return key_join("consults", consult_id)


def recordings_key(consult_id: str) -> str:
    """The folder of a consult's recording segments (and their crash-recovery evidence)."""
    return key_join(consult_prefix(consult_id), "recordings")


def recording_key(consult_id: str, participant: str, segment_index: int, extension: str) -> str:
    return key_join(
        "consults", consult_id, "recordings", f"{participant}-{segment_index:03d}.{extension}"
    )


def archive_manifest_key(consult_id: str) -> str:
    return key_join("consults", consult_id, "archive-manifest.json")


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int


@runtime_checkable
class ArtefactStorage(Protocol):
    def put(self, key: str, source: bytes | BinaryIO) -> StoredObject:
        """Store a new object; ObjectExists if the key is taken."""
        ...

    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        """Bytes [start, start + length) of an object (to its end without length)."""
        ...

    def iter_range(
        self, key: str, start: int = 0, length: int | None = None, chunk_size: int = _CHUNK
    ) -> Iterator[bytes]:
        """The same range in chunks, for HTTP Range replies of large recordings."""
        ...

    def size(self, key: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def make_read_only(self, key: str) -> None: ...

    def is_read_only(self, key: str) -> bool: ...

    def delete(self, key: str, *, bypass_governance: bool = False) -> None: ...

    def list(self, prefix: str = "") -> list[str]:
        """Keys under `prefix` (a whole key part boundary), sorted."""
        ...


class LocalDirectoryStorage:
    """One file per key under `root`; what the embedded single-machine setup uses."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """Local path of a key (local only: the recorder writes segments in place).

        Also refuses a key whose parent directories are symlinks leading out.
        """
        path = self.root.joinpath(*validate_key(key).split("/"))
        parent = path.parent.resolve()
        if parent != self.root and self.root not in parent.parents:
            raise InvalidKey(f"{key!r} resolves outside the storage root")
        return path

    def put(self, key: str, source: bytes | BinaryIO) -> StoredObject:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{_TEMPORARY_PREFIX}{secrets.token_hex(8)}")
        size = 0
        try:
            with open(temporary, "xb") as handle:
                if isinstance(source, bytes | bytearray | memoryview):
                    handle.write(source)
                    size = len(source)
                else:
                    while chunk := source.read(_CHUNK):
                        handle.write(chunk)
                        size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                # link() fails if the key exists: an atomic write-once, unlike rename().
                os.link(temporary, path)
            except FileExistsError:
                raise ObjectExists(key) from None
        finally:
            temporary.unlink(missing_ok=True)
        fsync_directory(path.parent)
        return StoredObject(key, size)

    def _existing(self, key: str) -> Path:
        path = self.path_for(key)
        if path.is_symlink() or not path.is_file():
            raise ObjectNotFound(key)
        return path

    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        return b"".join(self.iter_range(key, start, length))

    def iter_range(
        self, key: str, start: int = 0, length: int | None = None, chunk_size: int = _CHUNK
    ) -> Iterator[bytes]:
        if start < 0 or (length is not None and length < 0):
            raise ValueError("byte range must not be negative")
        path = self._existing(key)
        with open(path, "rb") as handle:
            handle.seek(start)
            remaining = length
            while remaining is None or remaining > 0:
                want = chunk_size if remaining is None else min(chunk_size, remaining)
                chunk = handle.read(want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def exists(self, key: str) -> bool:
        try:
            self._existing(key)
        except ObjectNotFound:
            return False
        return True

    def make_read_only(self, key: str) -> None:
        path = self._existing(key)
        os.chmod(path, 0o444)

    def is_read_only(self, key: str) -> bool:
        mode = self._existing(key).stat().st_mode
        return not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)

    def delete(self, key: str, *, bypass_governance: bool = False) -> None:
        path = self._existing(key)
        if self.is_read_only(key) and not bypass_governance:
            raise ObjectReadOnly(key)
        path.unlink()
        fsync_directory(path.parent)

    def list(self, prefix: str = "") -> list[str]:
        base = self.root
        if prefix:
            base = self.path_for(validate_key(prefix.rstrip("/")))
        if not base.is_dir():
            return []
        keys: list[str] = []
        for directory, subdirectories, files in os.walk(base):
            # Never follow symlinked directories out of the root.
            subdirectories[:] = [
                d for d in subdirectories if not os.path.islink(os.path.join(directory, d))
            ]
            for name in files:
                full = Path(directory, name)
                if full.is_symlink():
                    continue
                key = full.relative_to(self.root).as_posix()
                try:
                    keys.append(validate_key(key))
                except InvalidKey:
                    continue  # temporary files and foreign names are not objects
        return sorted(keys)
