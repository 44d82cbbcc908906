"""A sealed archive exported for a regulator: one tar file that checks itself.

The tar holds a README, the sealing audit entry (`seal.json`), the manifest exactly as
sealed, a `SHA256SUMS` that `sha256sum -c` checks (the manifest against the audit chain's
hash, every artefact against the manifest), the artefacts, and last `verification.json` with
the hashes measured while the archive was being written. `write_export` writes it as a
stream to any sink (blocking), so nothing is buffered whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from recorder.archive_manifest import (
    MANIFEST_NAME,
    ManifestEntry,
    UnsafeArtefactPath,
    resolve_artefact,
)
from recorder.purge_evidence import PurgeRecord

# Each sealed artefact no longer stored, with the purge entry that claims it (if any).
AbsentArtefacts = list[tuple[ManifestEntry, PurgeRecord | None]]


@dataclass(frozen=True)
class ExportPlan:
    """What one export holds, decided before the first byte is sent."""

    consult_id: str
    root: Path
    manifest_raw: bytes
    entries: list[ManifestEntry]
    present: list[ManifestEntry]
    absent: AbsentArtefacts
    seal: dict[str, Any]
    chain: dict[str, Any]
    sealed_at: datetime

    @property
    def directory(self) -> str:
        return f"shouzhen-consult-{self.consult_id}"

    @property
    def file_name(self) -> str:
        return f"{self.directory}.tar"


def present_and_absent(root: Path, entries: list[ManifestEntry], purges: dict[str, PurgeRecord]
                       ) -> tuple[list[ManifestEntry], AbsentArtefacts]:
    """Which sealed artefacts are still stored, and for each one gone, the purge entry that
    claims it (if any). UnsafeArtefactPath(path) for a listed path that could leave the root."""
    present: list[ManifestEntry] = []
    absent: AbsentArtefacts = []
    for entry in entries:
        try:
            path = resolve_artefact(root, entry.path)  # refuses `..`, absolute paths, links
            exists = stat.S_ISREG(path.lstat().st_mode)
        except UnsafeArtefactPath:
            raise UnsafeArtefactPath(entry.path) from None  # named by the path it lists
        except FileNotFoundError:
            exists = False
        if exists:
            present.append(entry)
        else:
            absent.append((entry, purges.get(entry.path)))
    return present, absent


def readme(plan: ExportPlan) -> str:
    sealed = plan.seal.get("sealed_audit_entry") or {}
    sealed_sha = json.loads(sealed["details"]).get("manifest_sha256") if sealed else None
    lines = [
        f"shouzhen 首诊 — archived consult {plan.consult_id}",
        "",
        "本文件为一次互联网首诊的封存档案导出，供监管审查。",
        "This is the sealed archive of one first-visit consult, exported for a regulator.",
        "",
        "Contents / 内容",
        "  archive-manifest.json  the manifest exactly as sealed: SHA-256, size and retention",
        "                         class of every artefact (封存清单)",
        "  seal.json              the audit-chain entry that sealed it (seq, hash, prev_hash)",
        "                         and the chain verdict at export time (审计链封存记录)",
        "  SHA256SUMS             check with:  sha256sum -c SHA256SUMS",
        "  record/ recordings/ photos/   the artefacts (病历、录音录像、照片)",
        "  verification.json      hashes the server measured while writing this file",
        "",
        "How to verify / 如何核验",
        "  1. sha256sum archive-manifest.json must equal the manifest_sha256 of the",
        f"     archive.sealed entry in seal.json: {sealed_sha}",
        f"     (audit entry seq {sealed.get('seq')}, hash {sealed.get('hash')}).",
        "  2. sha256sum -c SHA256SUMS checks every artefact against the manifest.",
        "  3. The audit entry's hash can be checked against the hospital's audit chain",
        "     (shouzhen audit verify).",
        "",
        f"Sealed at / 封存时间: {plan.sealed_at.isoformat()}",
        f"Artefacts in the manifest / 清单文件数: {len(plan.entries)}; "
        f"in this export / 本次导出: {len(plan.present)}",
    ]
    if plan.absent:
        lines += ["", "Not in this export / 未包含的文件"]
        for entry, record in plan.absent:
            if record is not None:
                lines.append(f"  {entry.path}: purged under the retention rule (已按保存期限"
                             f"清除) at {record.at.isoformat()}, audit entry seq {record.seq}; "
                             f"retention ended {record.expires_at.isoformat()}")
            else:
                lines.append(f"  {entry.path}: MISSING — no purge record accounts for it "
                             "(缺失，且无清除记录)")
    return "\n".join(lines) + "\n"


def sha256sums(plan: ExportPlan) -> str:
    """`sha256sum -c` format: the manifest against the audit chain, artefacts against it."""
    sealed = plan.seal.get("sealed_audit_entry")
    sealed_sha = json.loads(sealed["details"]).get("manifest_sha256") if sealed else None
    lines = [f"{sealed_sha or plan.seal['archive']['manifest_sha256']}  {MANIFEST_NAME}"]
    lines += [f"{entry.sha256}  {entry.path}" for entry in plan.present]
    return "\n".join(lines) + "\n"


class _HashingReader(io.RawIOBase):
    """Reads a file for the tar writer, hashing exactly what went into the archive."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunk = self.handle.read(n)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


def write_export(sink: BinaryIO, plan: ExportPlan) -> None:
    """The whole tar, written to `sink`; blocking (runs in a worker thread)."""
    mtime = int(plan.sealed_at.timestamp())

    def member(name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{plan.directory}/{name}")
        info.size, info.mtime, info.mode = size, mtime, 0o444
        return info

    def add_bytes(name: str, data: bytes) -> None:
        tar.addfile(member(name, len(data)), io.BytesIO(data))

    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        add_bytes("README.txt", readme(plan).encode())
        add_bytes("seal.json", _json({**plan.seal, "chain_at_export": plan.chain}))
        add_bytes(MANIFEST_NAME, plan.manifest_raw)
        add_bytes("SHA256SUMS", sha256sums(plan).encode())
        measured = []
        for entry in plan.present:
            path = resolve_artefact(plan.root, entry.path)
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                reader = _HashingReader(handle)
                tar.addfile(member(entry.path, size), reader)
            sha = reader.digest.hexdigest()
            measured.append({"path": entry.path, "sha256": sha, "size": reader.size,
                             "matches_manifest": sha == entry.sha256
                             and reader.size == entry.size})
        manifest_sha = hashlib.sha256(plan.manifest_raw).hexdigest()
        sealed_sha = plan.seal["archive"]["manifest_sha256"]
        add_bytes("verification.json", _json({
            "manifest_sha256": manifest_sha, "manifest_matches_seal": manifest_sha == sealed_sha,
            "artefacts": measured,
            "all_artefacts_match": all(m["matches_manifest"] for m in measured),
            "absent": [{"path": e.path, "purge": r.to_dict() if r else None}
                       for e, r in plan.absent]}))


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True,
                      default=str).encode() + b"\n"
