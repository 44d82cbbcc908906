"""Chat messages of the live consult (process records).

Revision ID: 0002_chat
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0002_chat"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), nullable=False,
                  index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("sender_role", sa.String(16), nullable=False),
        sa.Column("sender_id", sa.String(100), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("consult_id", "seq"),
        sa.UniqueConstraint("consult_id", "client_id"),
    )


def downgrade() -> None:
    op.drop_table("chat_messages")
