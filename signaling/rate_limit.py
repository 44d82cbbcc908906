"""A token bucket per socket: a flood of events is refused, not queued, and the refusal is
audited once per burst rather than once per event (the audit log must not be the flood's
amplifier)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    capacity: float
    refill_per_second: float
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)
    refusals_since_audit: int = 0

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
        self.refusals_since_audit += 1
        return False

    def should_audit_refusal(self) -> bool:
        """True for the first refusal of a burst."""
        return self.refusals_since_audit == 1


def event_bucket() -> TokenBucket:
    # Trickle ICE sends a dozen candidates at once; 40 in a burst and 20/s covers it.
    return TokenBucket(capacity=40, refill_per_second=20)


def chat_bucket() -> TokenBucket:
    return TokenBucket(capacity=10, refill_per_second=1)
