"""Event delivery (one row per outbox event and target) and adverse-event reports.

Revision ID: 0004_event_delivery
Revises: 0003_outcomes_outbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0004_event_delivery"
down_revision = "0003_outcomes_outbox"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_deliveries",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", BIGINT, sa.ForeignKey("outbox_events.id"), nullable=False),
        sa.Column("consult_id", sa.String(36), nullable=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("last_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.Column("alerted_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("outbox_id", "target"),
    )
    op.create_index("ix_event_deliveries_order", "event_deliveries",
                    ["target", "consult_id", "outbox_id"])
    op.create_index("ix_event_deliveries_due", "event_deliveries", ["next_attempt_at"],
                    postgresql_where=sa.text("status <> 'delivered'"),
                    sqlite_where=sa.text("status <> 'delivered'"))
    op.create_table(
        "adverse_events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), nullable=False,
                  index=True),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(24), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=True),
        sa.Column("reported_by", sa.String(120), nullable=False),
        sa.Column("reported_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("adverse_events")
    op.drop_index("ix_event_deliveries_due", table_name="event_deliveries")
    op.drop_index("ix_event_deliveries_order", table_name="event_deliveries")
    op.drop_table("event_deliveries")
