"""Alembic environment: shouzhen runs migrations on a connection it opens itself
(`server.kernel.db.Database.migrate`), for SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic import context

from server.kernel.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `shouzhen serve` or server.kernel.db.Database.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
