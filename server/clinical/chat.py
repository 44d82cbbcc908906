"""Chat during the consult: process records, stored and audited before anyone is told."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.clinical.consult_lifecycle import ConsultState
from server.clinical.consults import load_consult
from server.kernel import audit_log
from server.kernel.audit_log import Actor
from server.kernel.clock import Clock
from server.kernel.db import Database
from server.kernel.errors import TransitionNotAllowed
from server.kernel.models import ChatMessageRow

CHAT_STATES = frozenset({ConsultState.WAITING, ConsultState.IN_CALL})


def message_view(row: ChatMessageRow) -> dict[str, Any]:
    return {"id": row.id, "seq": row.seq, "from_role": row.sender_role, "text": row.text,
            "sent_at": row.sent_at.isoformat(), "client_id": row.client_id}


class ChatLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def post(self, actor: Actor, consult_id: str, text: str,
                   client_id: str) -> tuple[dict[str, Any], bool]:
        """Store one message; (message, created). A resend with the same `client_id` returns
        the stored message instead of a duplicate."""
        existing = await self._by_client_id(consult_id, client_id)
        if existing is not None:
            return message_view(existing), False
        try:
            async with self.db.transaction() as session:
                consult = await load_consult(session, consult_id, for_update=True)
                if ConsultState(consult.state) not in CHAT_STATES:
                    raise TransitionNotAllowed(f"chat is closed: the consult is {consult.state}")
                last = (await session.execute(sa.select(sa.func.max(ChatMessageRow.seq)).where(
                    ChatMessageRow.consult_id == consult_id))).scalar()
                row = ChatMessageRow(id=uuid.uuid4().hex, consult_id=consult_id,
                                     seq=(last or 0) + 1, sender_role=actor.role,
                                     sender_id=actor.subject, client_id=client_id, text=text,
                                     sent_at=self.clock.now())
                session.add(row)
                await session.flush()
                await audit_log.append(session, actor, "chat.message", consult_id=consult_id,
                                       at=row.sent_at, details={"message_id": row.id,
                                                                "seq": row.seq, "text": text})
        except IntegrityError:
            # The same client_id raced in twice: the first one won; hand back its message.
            existing = await self._by_client_id(consult_id, client_id)
            if existing is None:
                raise
            return message_view(existing), False
        return message_view(row), True

    async def _by_client_id(self, consult_id: str, client_id: str) -> ChatMessageRow | None:
        async with self.db.reading() as session:
            found: ChatMessageRow | None = (await session.scalars(sa.select(ChatMessageRow).where(
                ChatMessageRow.consult_id == consult_id,
                ChatMessageRow.client_id == client_id))).one_or_none()
            return found

    async def transcript(self, consult_id: str) -> list[dict[str, Any]]:
        async with self.db.reading() as session:
            rows = (await session.scalars(sa.select(ChatMessageRow).where(
                ChatMessageRow.consult_id == consult_id).order_by(ChatMessageRow.seq))).all()
        return [message_view(row) for row in rows]
