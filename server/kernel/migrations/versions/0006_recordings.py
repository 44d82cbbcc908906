"""Recording segments, sealed archives and legal holds.

Revision ID: 0006_recordings
Revises: 0005_photos
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0006_recordings"
down_revision = "0005_photos"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "recording_segments",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), nullable=False,
                  index=True),
        sa.Column("participant", sa.String(16), nullable=False),
        sa.Column("segment_index", sa.Integer, nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("container", sa.String(16), nullable=False),
        sa.Column("codecs", sa.JSON, nullable=False),
        sa.Column("video_size", sa.String(16), nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("video_frames", sa.Integer, nullable=False),
        sa.Column("audio_frames", sa.Integer, nullable=False),
        sa.Column("dropped", sa.Integer, nullable=False),
        sa.Column("opened_because", sa.String(32), nullable=False),
        sa.Column("closed_because", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", BIGINT, nullable=False),
        sa.Column("retention_class", sa.String(24), nullable=False),
        sa.UniqueConstraint("consult_id", "participant", "segment_index"),
    )
    op.create_table(
        "archives",
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), primary_key=True),
        sa.Column("manifest_key", sa.String(300), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("artefacts", sa.Integer, nullable=False),
        sa.Column("sealed_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), nullable=False,
                  index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_by", sa.String(120), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.Column("cleared_by", sa.String(120), nullable=True),
        sa.Column("cleared_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("legal_holds")
    op.drop_table("archives")
    op.drop_table("recording_segments")
