"""The append-only, hash-chained audit log (全程留痕).

Each entry's hash is SHA-256 over a canonical JSON encoding of its fields, including the
previous entry's hash; the chain's head row holds the last sequence number and hash, so an
edited, deleted, reordered or cut-off entry is found by `verify_chain`. Entries are appended
in the same transaction as the change they record: if the change rolls back, so does its
entry, and if the entry cannot be written, the change does not happen.

The hashed form, for anyone checking the chain with other tools: the hex SHA-256 of the
UTF-8 bytes of one JSON object holding exactly the eight fields `action`, `actor_id`,
`actor_role`, `at`, `consult_id` (null when none), `details` (the canonical JSON text as
stored, itself a string), `prev_hash` and `seq` (a number) — keys sorted, no whitespace,
non-ASCII characters written as themselves, e.g.
`{"action":"consult.booked","actor_id":"alice",…,"prev_hash":"000…","seq":1}`.

Entries are permanent, so their size is capped twice: each audited payload is bounded at its
schema (signaling/payloads.py, the API's models), and whatever still comes to `append` larger
than `MAX_DETAILS_CHARS` is stored as a stand-in naming its size, top-level keys and SHA-256
(`truncated: true`) — never silently, and never as a way to grow the log without bound.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.kernel.models import AuditEntryRow, AuditHeadRow

GENESIS_HASH = "0" * 64
HEAD_ROW_ID = 1
# The largest details text an entry keeps (characters of its canonical JSON); the largest a
# legitimate entry holds is an outcome with its prescription, a few kilobytes.
MAX_DETAILS_CHARS = 32_768
log = logging.getLogger("shouzhen.audit")


@dataclass(frozen=True)
class Actor:
    """Who did it: a role and the subject within it (physician id, staff key name, …)."""

    role: str  # admin | auditor | physician | guardian | system | anonymous
    subject: str

    @classmethod
    def system(cls, component: str = "shouzhen") -> Actor:
        return cls("system", component)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor_role: str
    actor_id: str
    action: str
    consult_id: str | None
    details: str
    prev_hash: str
    hash: str

    def details_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.details)
        return loaded


def canonical_json(value: Any) -> str:
    """One encoding per value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_encode_extra)


def _encode_extra(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot put {type(value).__name__} into an audit entry")


def entry_hash(
    *, seq: int, at: str, actor_role: str, actor_id: str, action: str,
    consult_id: str | None, details: str, prev_hash: str,
) -> str:
    material = canonical_json({
        "seq": seq, "at": at, "actor_role": actor_role, "actor_id": actor_id,
        "action": action, "consult_id": consult_id, "details": details,
        "prev_hash": prev_hash,
    })
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    entries_checked: int
    first_broken_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries_checked": self.entries_checked,
                "first_broken_seq": self.first_broken_seq, "problem": self.problem}


class ChainChecker:
    """Checks entries one at a time in chain order, so a long chain streams through."""

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.checked = 0
        self.broken: ChainVerdict | None = None

    def feed(self, entry: AuditEntry) -> bool:
        """False once the chain is found broken (see `broken`)."""
        if self.broken is not None:
            return False
        if entry.seq != self.expected_seq:
            self._break(self.expected_seq, f"entry {self.expected_seq} is missing or out of "
                        f"order (found {entry.seq} in its place)")
        elif entry.prev_hash != self.prev_hash:
            self._break(entry.seq, f"entry {entry.seq} does not link to the entry before it")
        elif entry_hash(
            seq=entry.seq, at=entry.at, actor_role=entry.actor_role, actor_id=entry.actor_id,
            action=entry.action, consult_id=entry.consult_id, details=entry.details,
            prev_hash=entry.prev_hash,
        ) != entry.hash:
            self._break(entry.seq, f"entry {entry.seq} was altered: its content no longer "
                        "matches its hash")
        else:
            self.prev_hash, self.expected_seq = entry.hash, self.expected_seq + 1
            self.checked += 1
        return self.broken is None

    def _break(self, seq: int, problem: str) -> None:
        self.broken = ChainVerdict(False, self.checked, seq, problem)

    def verdict(self, head: tuple[int, str] | None = None) -> ChainVerdict:
        """`head` = (last_seq, last_hash) as the head row records them."""
        if self.broken is not None:
            return self.broken
        if head is not None:
            last_seq, last_hash = head
            if last_seq != self.checked or (self.checked and last_hash != self.prev_hash):
                return ChainVerdict(False, self.checked, self.checked + 1,
                                    f"the chain head records {last_seq} entries but "
                                    f"{self.checked} are present: entries were cut off the end")
        return ChainVerdict(True, self.checked)


def verify_entries(
    entries: Iterable[AuditEntry], head: tuple[int, str] | None = None
) -> ChainVerdict:
    checker = ChainChecker()
    for entry in entries:
        if not checker.feed(entry):
            break
    return checker.verdict(head)


def _entry_from_row(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq, at=row.at, actor_role=row.actor_role, actor_id=row.actor_id,
        action=row.action, consult_id=row.consult_id, details=row.details,
        prev_hash=row.prev_hash, hash=row.hash,
    )


async def append(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    consult_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction.

    The head row is updated first: that takes the row lock (PostgreSQL) or the write lock
    (SQLite) before the previous hash is read, so concurrent writers on any number of nodes
    queue up and each links to the one before it.
    """
    bumped = (await session.execute(
        sa.update(AuditHeadRow)
        .where(AuditHeadRow.id == HEAD_ROW_ID)
        .values(last_seq=AuditHeadRow.last_seq + 1)
        .returning(AuditHeadRow.last_seq, AuditHeadRow.last_hash)
    )).one()
    seq, prev_hash = int(bumped[0]), str(bumped[1])
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    details_text = capped_details(action, canonical_json(dict(details or {})))
    digest = entry_hash(seq=seq, at=stamp, actor_role=actor.role, actor_id=actor.subject,
                        action=action, consult_id=consult_id, details=details_text,
                        prev_hash=prev_hash)
    row = AuditEntryRow(seq=seq, at=stamp, actor_role=actor.role, actor_id=actor.subject,
                        action=action, consult_id=consult_id, details=details_text,
                        prev_hash=prev_hash, hash=digest)
    session.add(row)
    await session.execute(
        sa.update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ROW_ID).values(last_hash=digest)
    )
    await session.flush([row])
    return _entry_from_row(row)


def capped_details(action: str, details_text: str) -> str:
    """`details_text` if it fits, else a stand-in that says what was left out."""
    if len(details_text) <= MAX_DETAILS_CHARS:
        return details_text
    log.warning("audit details over the cap were not stored whole",
                extra={"action": action, "chars": len(details_text)})
    keys = sorted(json.loads(details_text))[:50]
    return canonical_json({
        "truncated": True, "chars": len(details_text),
        "sha256": hashlib.sha256(details_text.encode("utf-8")).hexdigest(),
        "keys": [key[:64] for key in keys], "head": details_text[:1024]})


async def iter_entries(
    session: AsyncSession, *, consult_id: str | None = None, batch: int = 1000,
    up_to: int | None = None,
) -> AsyncIterator[AuditEntry]:
    """Entries in chain order, read in batches so a long chain is never all in memory."""
    after = 0
    while True:
        query = sa.select(AuditEntryRow).where(AuditEntryRow.seq > after)
        if up_to is not None:
            query = query.where(AuditEntryRow.seq <= up_to)
        if consult_id is not None:
            query = query.where(AuditEntryRow.consult_id == consult_id)
        rows = (await session.scalars(query.order_by(AuditEntryRow.seq).limit(batch))).all()
        if not rows:
            return
        for row in rows:
            yield _entry_from_row(row)
        after = rows[-1].seq


async def verify_chain(session: AsyncSession) -> ChainVerdict:
    """Verify the chain up to the head as read first: entries appended while the check
    runs (other nodes keep working) are after that head and are left for the next check,
    whatever the database's isolation level."""
    head = (await session.execute(
        sa.select(AuditHeadRow.last_seq, AuditHeadRow.last_hash)
        .where(AuditHeadRow.id == HEAD_ROW_ID)
    )).one_or_none()
    if head is None:
        return ChainVerdict(False, 0, 1, "the audit chain head row is missing")
    checker = ChainChecker()
    async for entry in iter_entries(session, up_to=int(head[0])):
        if not checker.feed(entry):
            break
    return checker.verdict(head=(int(head[0]), str(head[1])))
