"""Durability and fingerprints of files on a local disk: fsync and SHA-256.

Evidence that is written but not fsynced can vanish in a power cut even though
the process "finished" it; a rename or unlink is only durable once its directory
is fsynced too. These helpers are blocking and belong in worker threads.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileDigest:
    sha256: str
    size: int


def sha256_file(path: Path) -> FileDigest:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(digest.hexdigest(), size)


def fsync_path(path: Path) -> None:
    # fsync works on a read-only descriptor on Linux: it flushes the inode, not the fd.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make creations, renames and unlinks inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_durably(path: Path, data: bytes, *, exclusive: bool = True) -> None:
    """Write `data` to `path`, fsync it and its directory.

    With `exclusive` the call fails (FileExistsError) instead of replacing an
    existing file: a marker or report that already exists is someone else's record.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)
