"""Capture requests and skin photos (medical record).

Revision ID: 0005_photos
Revises: 0004_event_delivery
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0005_photos"
down_revision = "0004_event_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capture_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), nullable=False,
                  index=True),
        sa.Column("body_site", sa.String(40), nullable=False),
        sa.Column("laterality", sa.String(16), nullable=True),
        sa.Column("view", sa.String(16), nullable=False),
        sa.Column("retake_of", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(120), nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("fulfilled_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), nullable=False,
                  index=True),
        sa.Column("request_id", sa.String(32), nullable=True, index=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("body_site", sa.String(40), nullable=True),
        sa.Column("laterality", sa.String(16), nullable=True),
        sa.Column("view", sa.String(16), nullable=True),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("thumbnail_key", sa.String(300), nullable=False),
        sa.Column("quality", sa.JSON, nullable=False),
        sa.Column("needs_retake", sa.Boolean, nullable=False),
        sa.Column("retention_class", sa.String(24), nullable=False),
        sa.Column("captured_by", sa.String(120), nullable=False),
        sa.Column("captured_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("photos")
    op.drop_table("capture_requests")
