"""Whether a physician may act right now: the whitelist re-checked at every physician action
(each HTTP request, each Socket.IO event), not only at booking and at join.

The answer is kept per node so an ICE candidate or a chat message does not cost a database
read, and forgotten the moment the physician changes: by the registry on this node, and on
the other nodes through the cluster channel (server/cluster/cluster_channel.py), which also
forgets everything when it had to reconnect (a change may have passed unheard). The age
limit is only the last safeguard should a node hear nothing at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from server.clinical.physicians import credentials_of
from server.clinical.whitelist import REASON_TEXT, Credentials, WhitelistStatus, standing_reasons
from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.errors import Forbidden
from server.kernel.models import PhysicianRow

MAX_AGE_SECONDS = 15.0


class PhysicianWithdrawn(Forbidden):
    """A physician's link is genuine but the physician may not act now (suspended, revoked,
    no longer eligible): 403, with the reasons in words."""

    code = "physician_not_whitelisted"
    title = "Physician is not whitelisted for first-visit consults"

    def __init__(self, detail: str, reasons: list[str]) -> None:
        super().__init__(detail, reasons=reasons)
        self.reasons = reasons


@dataclass(frozen=True)
class Standing:
    status: WhitelistStatus
    credentials: Credentials


def withdrawn_error(reasons: list[str]) -> PhysicianWithdrawn:
    return PhysicianWithdrawn("this physician may not hold first-visit consults now: "
                              + "; ".join(REASON_TEXT[r] for r in reasons), reasons)


class PhysicianStanding:
    def __init__(self, db: Database, clock: Clock, *, max_age: float = MAX_AGE_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.clock = clock
        self.max_age = max_age
        self._monotonic = monotonic
        self._known: dict[str, tuple[Standing, float]] = {}
        # Bumped by every forget: a read that started before a change must not store what
        # it read after the change was announced.
        self._generation = 0

    async def require_active(self, physician_id: str) -> None:
        """Refuse (PhysicianWithdrawn) unless the physician is whitelisted and eligible today;
        a physician who no longer exists is refused too."""
        standing = await self._standing(physician_id)
        if standing is None:
            raise PhysicianWithdrawn("this physician is no longer registered",
                                     ["not_whitelisted"])
        reasons = standing_reasons(standing.credentials, standing.status, self.clock.today())
        if reasons:
            raise withdrawn_error(reasons)

    def forget(self, physician_id: str) -> None:
        self._generation += 1
        self._known.pop(physician_id, None)

    def forget_all(self) -> None:
        self._generation += 1
        self._known.clear()

    async def _standing(self, physician_id: str) -> Standing | None:
        now = self._monotonic()
        known = self._known.get(physician_id)
        if known is not None and now - known[1] < self.max_age:
            return known[0]
        generation = self._generation
        async with self.db.reading() as session:
            row = await session.get(PhysicianRow, physician_id)
            if row is None:
                return None
            standing = Standing(WhitelistStatus(row.whitelist_status), credentials_of(row))
        if generation == self._generation:
            self._known[physician_id] = (standing, now)
        return standing
