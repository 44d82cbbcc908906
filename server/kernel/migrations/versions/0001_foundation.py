"""Foundation: physicians and their whitelist history, children, consults, intakes, the
hash-chained audit log and its head row.

Revision ID: 0001_foundation
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "physicians",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("licence_number", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("title", sa.String(32), nullable=False),
        sa.Column("independent_practice_since", sa.Date, nullable=False),
        sa.Column("internet_consults_since", sa.Date, nullable=True),
        sa.Column("training_exam_passed_on", sa.Date, nullable=True),
        sa.Column("specialties", sa.JSON, nullable=False),
        sa.Column("whitelist_status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "whitelist_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("physician_id", sa.String(36), sa.ForeignKey("physicians.id"),
                  nullable=False, index=True),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "children",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("hospital_patient_id", sa.String(64), nullable=True, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("sex", sa.String(8), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "consults",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("specialty", sa.String(32), nullable=False, index=True),
        sa.Column("physician_id", sa.String(36), sa.ForeignKey("physicians.id"),
                  nullable=False, index=True),
        sa.Column("child_id", sa.String(36), sa.ForeignKey("children.id"),
                  nullable=False, index=True),
        sa.Column("guardian_name", sa.String(100), nullable=False),
        sa.Column("guardian_relationship", sa.String(32), nullable=False),
        sa.Column("guardian_phone", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("scheduled_start", UTCDateTime, nullable=False),
        sa.Column("window_end", UTCDateTime, nullable=False),
        sa.Column("recording_notice_accepted_at", UTCDateTime, nullable=True),
        sa.Column("guardian_confirmed_at", UTCDateTime, nullable=True),
        sa.Column("admitted_at", UTCDateTime, nullable=True),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "intakes",
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), primary_key=True),
        sa.Column("specialty", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("submitted_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", BIGINT, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(100), nullable=False),
        sa.Column("action", sa.String(64), nullable=False, index=True),
        sa.Column("consult_id", sa.String(36), nullable=True, index=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_seq", BIGINT, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": "0" * 64}])


def downgrade() -> None:
    for table in ("audit_head", "audit_log", "intakes", "consults", "children",
                  "whitelist_changes", "physicians"):
        op.drop_table(table)
