"""Outcomes (with referral reference numbers) and the outbox of events for hospital systems.

Revision ID: 0003_outcomes_outbox
Revises: 0002_chat
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0003_outcomes_outbox"
down_revision = "0002_chat"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("referral_reference", sa.String(32), nullable=True, unique=True),
        sa.Column("prescription_status", sa.String(24), nullable=True),
        sa.Column("recorded_by", sa.String(120), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(32), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False, index=True),
        sa.Column("consult_id", sa.String(36), nullable=True, index=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox_events")
    op.drop_table("outcomes")
