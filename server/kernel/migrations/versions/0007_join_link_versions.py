"""Join link versions: re-issuing a consult's join links revokes the previous ones.

Each link carries the version it was issued under; only the consult's current version is
honoured (every node reads it from the shared database). Links issued before this column
existed carry no version, read as 0, and stay valid until the first re-issue.

Revision ID: 0007_join_link_versions
Revises: 0006_recordings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_join_link_versions"
down_revision = "0006_recordings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consults") as batch:
        batch.add_column(sa.Column("join_link_version", sa.Integer, nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("consults") as batch:
        batch.drop_column("join_link_version")
