"""The prescribing safety rules' records: the physician accompanying a child under 6
(互联网诊疗管理办法 第十九条) and the hospital's local additions to the drug catalogue.

Revision ID: 0008_prescribing_safety
Revises: 0007_join_link_versions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0008_prescribing_safety"
down_revision = "0007_join_link_versions"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "accompanying_physicians",
        sa.Column("consult_id", sa.String(36), sa.ForeignKey("consults.id"), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("licence_number", sa.String(40), nullable=False),
        sa.Column("institution", sa.String(200), nullable=False),
        sa.Column("recorded_by", sa.String(120), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "local_drug_entries",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("generic_name_zh", sa.String(100), nullable=False),
        sa.Column("inn", sa.String(100), nullable=False),
        sa.Column("aliases", sa.JSON, nullable=False),
        sa.Column("drug_class", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("added_by", sa.String(120), nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("retired_by", sa.String(120), nullable=True),
        sa.Column("retired_at", UTCDateTime, nullable=True),
        sa.Column("retire_reason", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("local_drug_entries")
    op.drop_table("accompanying_physicians")
