"""A revoked physician may be registered anew after the hospital's review: a new record that
supersedes the revoked one (which stays revoked). The licence number is unique among the
records in force only (superseded_at IS NULL), so the old record keeps its licence number.

Revision ID: 0009_physician_re_registration
Revises: 0008_prescribing_safety
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.kernel.models import UTCDateTime

revision = "0009_physician_re_registration"
down_revision = "0008_prescribing_safety"
branch_labels = None
depends_on = None

CURRENT_LICENCE_INDEX = "uq_physicians_current_licence"
IN_FORCE = sa.text("superseded_at IS NULL")
# 0001 declared the licence unique inline: PostgreSQL names such a constraint
# <table>_<column>_key; SQLite leaves it unnamed, so the batch copy names it by convention.
POSTGRES_UNIQUE = "physicians_licence_number_key"
SQLITE_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("physicians", naming_convention=SQLITE_NAMING) as batch:
            batch.drop_constraint("uq_physicians_licence_number", type_="unique")
            batch.add_column(sa.Column("supersedes_id", sa.String(36), nullable=True))
            batch.add_column(sa.Column("superseded_at", UTCDateTime, nullable=True))
            batch.create_foreign_key("fk_physicians_supersedes_id", "physicians",
                                     ["supersedes_id"], ["id"])
    else:
        op.drop_constraint(POSTGRES_UNIQUE, "physicians", type_="unique")
        op.add_column("physicians", sa.Column("supersedes_id", sa.String(36),
                                              sa.ForeignKey("physicians.id"), nullable=True))
        op.add_column("physicians", sa.Column("superseded_at", UTCDateTime, nullable=True))
    op.create_index(CURRENT_LICENCE_INDEX, "physicians", ["licence_number"], unique=True,
                    sqlite_where=IN_FORCE, postgresql_where=IN_FORCE)


def downgrade() -> None:
    op.drop_index(CURRENT_LICENCE_INDEX, "physicians")
    with op.batch_alter_table("physicians") as batch:
        if op.get_bind().dialect.name == "sqlite":
            batch.drop_constraint("fk_physicians_supersedes_id", type_="foreignkey")
        batch.drop_column("superseded_at")
        batch.drop_column("supersedes_id")
        batch.create_unique_constraint(POSTGRES_UNIQUE, ["licence_number"])
