"""Database tables (SQLAlchemy 2). The schema itself is owned by the Alembic migrations in
`server/kernel/migrations`; these mappings must match them (a test compares the two)."""

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
    # One record in force per licence; a revoked record superseded by a re-registration
    # keeps its licence number (migration 0009).
    __table_args__ = (sa.Index("uq_physicians_current_licence", "licence_number", unique=True,
                               sqlite_where=sa.text("superseded_at IS NULL"),
                               postgresql_where=sa.text("superseded_at IS NULL")),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    licence_number: Mapped[str] = mapped_column(sa.String(64))
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
    supersedes_id: Mapped[str | None] = mapped_column(sa.ForeignKey("physicians.id"),
                                                      nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(nullable=True)


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
    # The version the current join links were issued under; re-issuing bumps it, and a link
    # of an older version is refused everywhere (server/clinical/consults.py).
    join_link_version: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


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


class EventDeliveryRow(Base):
    """One outbox event on its way to one target (a webhook, the Redis Stream).

    Never given up on: a failing delivery is retried with capped backoff for as long as it
    takes, and flagged (`alerted_at`) once it is older than the alert threshold. A claim is a
    lease (`claimed_by`, `lease_until`) so a node that dies mid-send hands the work on.
    """

    __tablename__ = "event_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("outbox_id", "target"),
        sa.Index("ix_event_deliveries_order", "target", "consult_id", "outbox_id"),
        # Only undelivered rows are ever looked for by due time: a partial index stays small.
        sa.Index("ix_event_deliveries_due", "next_attempt_at",
                 postgresql_where=sa.text("status <> 'delivered'"),
                 sqlite_where=sa.text("status <> 'delivered'")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.ForeignKey("outbox_events.id"))
    consult_id: Mapped[str | None] = mapped_column(sa.String(36))  # for the per-consult order
    target: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16))  # pending | retrying | delivered
    attempts: Mapped[int] = mapped_column(sa.Integer)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    alerted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AdverseEventRow(Base):
    """An adverse event (负性事件 / 医疗安全不良事件) filed by staff against a consult."""

    __tablename__ = "adverse_events"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), index=True)
    category: Mapped[str] = mapped_column(sa.String(40))
    severity: Mapped[str] = mapped_column(sa.String(24))
    description: Mapped[str] = mapped_column(sa.Text)
    occurred_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reported_by: Mapped[str] = mapped_column(sa.String(120))
    reported_at: Mapped[datetime]


class CaptureRequestRow(Base):
    """The physician asked for a photo of a body site; fulfilled once, by one upload."""

    __tablename__ = "capture_requests"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), index=True)
    body_site: Mapped[str] = mapped_column(sa.String(40))
    laterality: Mapped[str | None] = mapped_column(sa.String(16))
    view: Mapped[str] = mapped_column(sa.String(16))
    retake_of: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))  # pending | fulfilled
    requested_by: Mapped[str] = mapped_column(sa.String(120))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    fulfilled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PhotoRow(Base):
    """A skin photo: part of the medical record (retained ≥15 years)."""

    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), index=True)
    request_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    source: Mapped[str] = mapped_column(sa.String(16))  # device | stream | upload
    body_site: Mapped[str | None] = mapped_column(sa.String(40))
    laterality: Mapped[str | None] = mapped_column(sa.String(16))
    view: Mapped[str | None] = mapped_column(sa.String(16))
    media_type: Mapped[str] = mapped_column(sa.String(32))
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    size_bytes: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(300))
    thumbnail_key: Mapped[str] = mapped_column(sa.String(300))
    quality: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    needs_retake: Mapped[bool] = mapped_column(sa.Boolean)
    retention_class: Mapped[str] = mapped_column(sa.String(24))
    captured_by: Mapped[str] = mapped_column(sa.String(120))
    captured_at: Mapped[datetime]


class RecordingSegmentRow(Base):
    """One closed (or recovered) recording segment of one participant: a process record."""

    __tablename__ = "recording_segments"
    __table_args__ = (sa.UniqueConstraint("consult_id", "participant", "segment_index"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), index=True)
    participant: Mapped[str] = mapped_column(sa.String(16))
    segment_index: Mapped[int] = mapped_column(sa.Integer)
    storage_key: Mapped[str] = mapped_column(sa.String(300))
    container: Mapped[str] = mapped_column(sa.String(16))  # webm | matroska
    codecs: Mapped[list[Any]] = mapped_column(sa.JSON)
    video_size: Mapped[str | None] = mapped_column(sa.String(16))  # "640x480"
    started_at: Mapped[datetime]  # wall clock of the segment's time 0: syncs the two sides
    duration_s: Mapped[float] = mapped_column(sa.Float)
    video_frames: Mapped[int] = mapped_column(sa.Integer)
    audio_frames: Mapped[int] = mapped_column(sa.Integer)
    dropped: Mapped[int] = mapped_column(sa.Integer)
    opened_because: Mapped[str] = mapped_column(sa.String(32))
    closed_because: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))  # finished | recovered
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    retention_class: Mapped[str] = mapped_column(sa.String(24))


class ArchiveRow(Base):
    """A sealed consult: the manifest's hash is also in the audit chain."""

    __tablename__ = "archives"

    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), primary_key=True)
    manifest_key: Mapped[str] = mapped_column(sa.String(300))
    manifest_sha256: Mapped[str] = mapped_column(sa.String(64))
    artefacts: Mapped[int] = mapped_column(sa.Integer)
    sealed_at: Mapped[datetime]


class LegalHoldRow(Base):
    """While a hold is open, nothing of the consult may be purged."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    set_by: Mapped[str] = mapped_column(sa.String(120))
    set_at: Mapped[datetime]
    cleared_by: Mapped[str | None] = mapped_column(sa.String(120))
    cleared_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AccompanyingPhysicianRow(Base):
    """The relevant professional physician present with a child under 6, recorded by the
    treating physician before an online prescription (互联网诊疗管理办法 第十九条)."""

    __tablename__ = "accompanying_physicians"

    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    licence_number: Mapped[str] = mapped_column(sa.String(40))
    institution: Mapped[str] = mapped_column(sa.String(200))
    recorded_by: Mapped[str] = mapped_column(sa.String(120))
    recorded_at: Mapped[datetime]


class LocalDrugEntryRow(Base):
    """A hospital's own addition to the shipped drug catalogue (a formulary extension),
    merged with it for every prescription check; retired, never deleted."""

    __tablename__ = "local_drug_entries"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    generic_name_zh: Mapped[str] = mapped_column(sa.String(100))
    inn: Mapped[str] = mapped_column(sa.String(100))
    aliases: Mapped[list[Any]] = mapped_column(sa.JSON)
    drug_class: Mapped[str] = mapped_column(sa.String(32))
    rule: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.Text)
    added_by: Mapped[str] = mapped_column(sa.String(120))
    added_at: Mapped[datetime]
    retired_by: Mapped[str | None] = mapped_column(sa.String(120))
    retired_at: Mapped[datetime | None] = mapped_column(nullable=True)
    retire_reason: Mapped[str | None] = mapped_column(sa.Text)


class ReconnectDeadlineRow(Base):
    """When a participant who dropped out of a call must be back by, or the consult ends as
    aborted: in the database so that a restart or a failover resumes it (signaling/)."""

    __tablename__ = "reconnect_deadlines"

    consult_id: Mapped[str] = mapped_column(sa.ForeignKey("consults.id"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    deadline_at: Mapped[datetime] = mapped_column(index=True)
