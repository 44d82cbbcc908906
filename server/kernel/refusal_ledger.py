"""Refusals into the audit log, with growth bounded by design.

Every refusal is accounted for, but a flood must not turn the permanent audit log into its
amplifier (an anonymous client used to write 117–177 entries a second). Refusals are grouped
in classes — who (the actor, and the client address for anyone anonymous), what was refused
(the action: `access.refused`, `signal.refused`, and the target: a route's template, the socket
connect, a socket event) and why (the reason code) — and counted per window:

- the first refusal of a class in a window is written at once, as it always was, with
  `count: 1`: nothing is hidden while a window is open;
- the rest of the window are counted, and written as one entry with their `count` (and the
  first of them as `sample`, its time and the last one's) when the window closes — or when
  the server stops (`close`), so a count is never lost;
- an anonymous client address opens at most `anonymous_per_minute` entries at once per minute
  (a token bucket, filled back over a minute); past that its refusals are only counted.

So the entries a flood writes per window are bounded by the number of classes it touches —
routes and events times reason codes, a fixed set — and typed ids or paths never make a new
class. The sum of `count` over a class's
entries is the number of refusals. The rules are plain code (`RefusalWindows`);
`RefusalLedger` writes what they decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.db import Database

log = logging.getLogger("shouzhen.audit")
ANONYMOUS = "anonymous"
# Open windows and address buckets are kept in memory: beyond this many, new classes fold into
# one per (action, reason) so a flood from many addresses cannot grow the server's memory.
MAX_OPEN_CLASSES = 10_000
MANY_SOURCES = "*"


@dataclass(frozen=True)
class RefusalClass:
    """The refusals counted together."""

    action: str  # access.refused | signal.refused
    target: str  # "GET /api/consults/{consult_id}", "socket connect", a socket event
    actor_role: str
    actor_id: str
    source: str  # the client address ("" when the actor says who it is)
    reason: str  # the error code (and, for a socket event, the event)
    consult_id: str | None  # the consult an authenticated caller's credential names


@dataclass(frozen=True)
class Refusal:
    kind: RefusalClass
    details: Mapping[str, Any]
    consult_id: str | None = None  # the consult the first entry is filed under

    @classmethod
    def of(cls, action: str, actor: Actor, *, target: str, reason: str, source: str,
           details: Mapping[str, Any], consult_id: str | None = None) -> Refusal:
        anonymous = actor.role == ANONYMOUS
        # An anonymous caller can type any consult id: the class ignores it (the first
        # entry still files the refusal under a well-formed one).
        return cls(RefusalClass(action, target, actor.role, actor.subject,
                                source if anonymous else "", reason,
                                None if anonymous else consult_id), details, consult_id)


@dataclass
class _Window:
    opened_at: float
    count: int = 0  # refusals not yet written
    sample: Mapping[str, Any] | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None


@dataclass
class _AddressBudget:
    tokens: float
    updated: float


@dataclass(frozen=True)
class CountedRefusals:
    """A window's refusals that were not written at once: one entry with their count."""

    kind: RefusalClass
    count: int
    sample: Mapping[str, Any]
    first_at: datetime
    last_at: datetime


@dataclass
class RefusalWindows:
    """The counting rules, without I/O: `note` says whether a refusal is written now;
    `closed` hands over what the windows that ended counted."""

    window_seconds: float
    anonymous_per_minute: int
    max_open: int = MAX_OPEN_CLASSES
    _windows: OrderedDict[RefusalClass, _Window] = field(default_factory=OrderedDict)
    _budgets: OrderedDict[str, _AddressBudget] = field(default_factory=OrderedDict)

    def note(self, refusal: Refusal, now: float, at: datetime) -> bool:
        """True: write this refusal now. False: it is counted in its window."""
        kind = refusal.kind
        window = self._windows.get(kind)
        if window is None and len(self._windows) >= self.max_open:
            kind = RefusalClass(kind.action, kind.target, kind.actor_role, MANY_SOURCES,
                                MANY_SOURCES, kind.reason, None)
            window = self._windows.get(kind)
        if window is None:
            window = self._windows[kind] = _Window(opened_at=now)
            if self._may_write(kind, now):
                return True
        window.count += 1
        if window.sample is None:
            window.sample, window.first_at = refusal.details, at
        window.last_at = at
        return False

    def _may_write(self, kind: RefusalClass, now: float) -> bool:
        if kind.actor_role != ANONYMOUS:
            return True
        if kind.source == MANY_SOURCES:
            return False
        budget = self._budgets.get(kind.source)
        if budget is None:
            if len(self._budgets) >= self.max_open:
                self._budgets.popitem(last=False)
            budget = self._budgets[kind.source] = _AddressBudget(
                float(self.anonymous_per_minute), now)
        else:
            self._budgets.move_to_end(kind.source)
        budget.tokens = min(float(self.anonymous_per_minute), budget.tokens + (
            now - budget.updated) * self.anonymous_per_minute / 60.0)
        budget.updated = now
        if budget.tokens >= 1:
            budget.tokens -= 1
            return True
        return False

    def closed(self, now: float, *, all_of_them: bool = False) -> list[CountedRefusals]:
        """Close the windows that ended (every window with `all_of_them`); what they counted."""
        ended: list[CountedRefusals] = []
        for kind, window in list(self._windows.items()):
            if not all_of_them and now - window.opened_at < self.window_seconds:
                continue
            del self._windows[kind]
            if window.count and window.sample is not None:
                assert window.first_at is not None and window.last_at is not None
                ended.append(CountedRefusals(kind, window.count, window.sample,
                                             window.first_at, window.last_at))
        return ended

    def reopen(self, unwritten: list[CountedRefusals]) -> None:
        """Counts that could not be written go back into an open window, never dropped."""
        for ended in unwritten:
            window = self._windows.setdefault(ended.kind, _Window(time.monotonic()))
            window.count += ended.count
            if window.sample is None or window.first_at is None or window.last_at is None:
                window.sample, window.first_at, window.last_at = (
                    ended.sample, ended.first_at, ended.last_at)
            else:
                window.first_at = min(window.first_at, ended.first_at)
                window.last_at = max(window.last_at, ended.last_at)

    def next_close(self) -> float | None:
        """When the oldest open window ends (monotonic), if any is open."""
        if not self._windows:
            return None
        return min(w.opened_at for w in self._windows.values()) + self.window_seconds


class RefusalLedger:
    """Writes refusals to the audit log through `RefusalWindows`, each entry in its own
    transaction (the request it belongs to is failing, so nothing else would record it)."""

    def __init__(self, db: Database, *, window_seconds: float,
                 anonymous_per_minute: int) -> None:
        self.db = db
        self.windows = RefusalWindows(window_seconds, anonymous_per_minute)
        self._closer: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()

    async def record(self, refusal: Refusal) -> None:
        at = datetime.now(UTC)
        if self.windows.note(refusal, time.monotonic(), at):
            async with self.db.transaction() as session:
                await audit_log.append(
                    session, Actor(refusal.kind.actor_role, refusal.kind.actor_id),
                    refusal.kind.action, consult_id=refusal.consult_id, at=at,
                    details={**refusal.details, "count": 1})
        self._keep_closing()

    def _keep_closing(self) -> None:
        if self._closer is None or self._closer.done():
            self._closer = asyncio.get_running_loop().create_task(self._close_windows())

    async def _close_windows(self) -> None:
        while (due := self.windows.next_close()) is not None:
            await asyncio.sleep(max(0.0, due - time.monotonic()) + 0.01)
            try:
                await self._write(self.windows.closed(time.monotonic()))
            except Exception:
                log.exception("could not write counted refusals; kept for the next try")

    async def flush(self) -> None:
        """Close every open window now and write what it counted."""
        await self._write(self.windows.closed(time.monotonic(), all_of_them=True))

    async def close(self) -> None:
        """On shutdown, before the database closes: nothing counted is lost."""
        if self._closer is not None:
            self._closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer
        await self.flush()

    async def _write(self, counted: list[CountedRefusals]) -> None:
        async with self._writing:
            for index, ended in enumerate(counted):
                try:
                    async with self.db.transaction() as session:
                        await audit_log.append(
                            session, Actor(ended.kind.actor_role, ended.kind.actor_id),
                            ended.kind.action, consult_id=ended.kind.consult_id,
                            at=ended.last_at, details=_counted_details(
                                ended, self.windows.window_seconds))
                except BaseException:
                    self.windows.reopen(counted[index:])
                    raise


def _counted_details(ended: CountedRefusals, window_seconds: float) -> dict[str, Any]:
    return {"count": ended.count, "window_seconds": window_seconds,
            "first_at": ended.first_at.isoformat(), "last_at": ended.last_at.isoformat(),
            "source": ended.kind.source or None, "target": ended.kind.target,
            "reason": ended.kind.reason,
            "sample": dict(ended.sample)}
