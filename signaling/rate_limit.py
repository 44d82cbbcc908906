"""A token bucket per socket: a flood of events is refused, not queued. Each refusal goes to
the refusal ledger (server/kernel/refusal_ledger.py), which writes the first of a window at
once and the rest as one entry with their count: the audit log is not the flood's amplifier,
and no refusal goes unaccounted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    capacity: float
    refill_per_second: float
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        refilled = (now - self.updated) * self.refill_per_second
        self.tokens = min(self.capacity, self.tokens + refilled)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def event_bucket() -> TokenBucket:
    # Trickle ICE sends a dozen candidates at once; 40 in a burst and 20/s covers it.
    return TokenBucket(capacity=40, refill_per_second=20)


def chat_bucket() -> TokenBucket:
    return TokenBucket(capacity=10, refill_per_second=1)
