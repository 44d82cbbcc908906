"""Database tables (SQLAlchemy 2). The schema itself is owned by the Alembic migrations in
`server/migrations`; these mappings must match them (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones and drops them)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime, dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


class PhysicianRow(Base):
    __tablename__ = "physicians"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    licence_number: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    department: Mapped[str] = mapped_column(sa.String(100), default="")
    title: Mapped[str] = mapped_column(sa.String(32))
    independent_practice_since: Mapped[date] = mapped_column(sa.Date)
    internet_consults_since: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    training_exam_passed_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    specialties: Mapped[list[Any]] = mapped_column(sa.JSON)
    whitelist_status: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WhitelistChangeRow(Base):
    __tablename__ = "whitelist_changes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    physician_id: Mapped[str] = mapped_column(sa.ForeignKey("physicians.id"), index=True)
    from_status: Mapped[str] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str] = mapped_column(sa.Text)


class ChildRow(Base):
    __tablename__ = "children"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    hospital_patient_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    sex: Mapped[str] = mapped_column(sa.String(8))
    birth_date: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime]


class ConsultRow(Base):
    __tablename__ = "consults"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    specialty: Mapped[str] = mapped_column(sa.String(32), index=True)
    physician_id: Mapped[str] = mapped_column(sa.ForeignKey("physicians.id"), index=True)
    child_id: Mapped[str] = mapped_column(sa.ForeignKey("children.id"), index=True)
    guardian_name: Mapped[str] = mapped_column(sa.String(100))
    guardian_relationship: Mapped[str] = mapped_column(sa.String(32))
    guardian_phone: Mapped[str] = mapped_column(sa.String(32))
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    scheduled_start: Mapped[datetime]
    window_end: Mapped[datetime]
    recording_notice_accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    guardian_confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    admitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IntakeRow(Base):
    __tablename__ = "intakes"

    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), primary_key=True)
    specialty: Mapped[str] = mapped_column(sa.String(32))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    revision: Mapped[int] = mapped_column(sa.Integer)
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuditEntryRow(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(sa.String(40))  # ISO text: hashed exactly as stored
    actor_role: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    consult_id: Mapped[str | None] = mapped_column(sa.String(36), index=True, nullable=True)
    details: Mapped[str] = mapped_column(sa.Text)  # canonical JSON text, hashed as stored
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditHeadRow(Base):
    """One row: the chain's last sequence number and hash.

    Every append updates it first, which serialises writers on every backend (a row lock in
    PostgreSQL, the write lock in SQLite) and lets `verify` notice entries cut off the end.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    last_hash: Mapped[str] = mapped_column(sa.String(64))


class ChatMessageRow(Base):
    """A chat message: a process record, retained like the audio and video."""

    __tablename__ = "chat_messages"
    __table_args__ = (sa.UniqueConstraint("consult_id", "seq"),
                      sa.UniqueConstraint("consult_id", "client_id"))

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), index=True)
    seq: Mapped[int] = mapped_column(sa.Integer)
    sender_role: Mapped[str] = mapped_column(sa.String(16))
    sender_id: Mapped[str] = mapped_column(sa.String(100))
    client_id: Mapped[str] = mapped_column(sa.String(64))
    text: Mapped[str] = mapped_column(sa.Text)
    sent_at: Mapped[datetime]


class OutcomeRow(Base):
    """How the consult ended; the referral's reference number is what the family shows."""

    __tablename__ = "outcomes"

    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), primary_key=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    referral_reference: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    prescription_status: Mapped[str | None] = mapped_column(sa.String(24))
    recorded_by: Mapped[str] = mapped_column(sa.String(120))
    recorded_at: Mapped[datetime]


class OutboxEventRow(Base):
    """An event for the hospital's systems, committed with the change it announces and
    delivered afterwards (webhooks, Redis Stream) until acknowledged."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    event_type: Mapped[str] = mapped_column(sa.String(64), index=True)
    consult_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]
