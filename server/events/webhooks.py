"""Signed webhooks: the body a hospital system receives, its headers, and the check a
receiver runs.

The signature is HMAC-SHA256 over ``"<timestamp>.<body>"`` with the secret shared with that
receiver, sent as ``X-Shouzhen-Signature: v1=<hex>``. Binding the timestamp into the MAC lets
a receiver refuse a captured request replayed later (``verify_signature`` allows five
minutes either way for clock skew). Each retry is signed afresh with its own timestamp, so an
event that waited hours for a receiver to come back still verifies when it arrives.

Receivers must verify the raw bytes of the body as received, before parsing it, and should
deduplicate on ``X-Shouzhen-Event-Id``: delivery is at least once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

HEADER_EVENT_ID = "X-Shouzhen-Event-Id"
HEADER_EVENT_TYPE = "X-Shouzhen-Event-Type"
HEADER_TIMESTAMP = "X-Shouzhen-Timestamp"
HEADER_SIGNATURE = "X-Shouzhen-Signature"
HEADER_ATTEMPT = "X-Shouzhen-Delivery-Attempt"


@dataclass(frozen=True)
class OutboundEvent:
    """An outbox event as it leaves shouzhen, whatever the target."""

    event_id: str
    event_type: str
    consult_id: str | None
    created_at: datetime
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        return {"id": self.event_id, "type": self.event_type, "consult_id": self.consult_id,
                "created_at": self.created_at.isoformat(), "data": self.data}


def event_body(event: OutboundEvent) -> bytes:
    """The JSON body, UTF-8 with Chinese text kept readable. Receivers verify these bytes."""
    return json.dumps(event.envelope(), ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True).encode("utf-8")


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                   hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def signed_headers(secret: str, event: OutboundEvent, body: bytes, *, timestamp: int,
                   attempt: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "shouzhen-webhooks/1",
        HEADER_EVENT_ID: event.event_id,
        HEADER_EVENT_TYPE: event.event_type,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: signature(secret, timestamp, body),
        HEADER_ATTEMPT: str(attempt),
    }


def verify_signature(secret: str, timestamp: str | int | None, body: bytes,
                     signature_header: str | None, now: float,
                     tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """True if `signature_header` is a valid v1 signature of `body` at `timestamp` (unix
    seconds) and the timestamp is within `tolerance` seconds of `now`.

    The header may carry several comma-separated ``v1=`` values (a sender rotating its
    secret signs with both); any one matching is enough. Comparison is constant-time.
    """
    if timestamp is None or not signature_header:
        return False
    try:
        stamp = int(str(timestamp).strip())
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False  # too old (a replay) or too far in the future
    expected = signature(secret, stamp, body)
    matched = False
    for candidate in signature_header.split(","):
        if hmac.compare_digest(candidate.strip().encode(), expected.encode()):
            matched = True
    return matched
