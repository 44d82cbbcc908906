"""Reconnect deadlines: a dropped participant's grace period survives a restart.

Revision ID: 0010_reconnect_deadlines
Revises: 0009_physician_re_registration
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0010_reconnect_deadlines"
down_revision = "0009_physician_re_registration"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconnect_deadlines",
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("deadline_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_reconnect_deadlines_deadline_at", "reconnect_deadlines",
                    ["deadline_at"])


def downgrade() -> None:
    op.drop_index("ix_reconnect_deadlines_deadline_at", "reconnect_deadlines")
    op.drop_table("reconnect_deadlines")
