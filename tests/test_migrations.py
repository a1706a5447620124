"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from notifier.db import Database
from notifier.models import Base


def test_migrations_match_the_models(db_url: str) -> None:
    database = Database(db_url)
    try:
        database.upgrade()
        database.upgrade()  # a second run is a no-op
        with database.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        database.dispose()
