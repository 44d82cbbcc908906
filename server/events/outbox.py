"""The transactional outbox: an event is written in the same transaction as the change it
announces, so an outcome can never be committed without its event nor the other way round.
Delivery (webhooks, Redis Stream) reads from here afterwards and retries until acknowledged.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.kernel.models import OutboxEventRow


async def enqueue(session: AsyncSession, event_type: str, *, consult_id: str | None,
                  payload: dict[str, Any], at: datetime) -> OutboxEventRow:
    row = OutboxEventRow(event_id=uuid.uuid4().hex, event_type=event_type,
                         consult_id=consult_id, payload=payload, created_at=at)
    session.add(row)
    await session.flush()
    return row
