from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.wiring import App
from storage import migrate
from storage.tables import metadata


def test_migrations_match_the_models(app: App) -> None:
    with app.db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), metadata
        )
    assert diff == []


def test_upgrade_is_idempotent(app: App) -> None:
    migrate.upgrade(app.db.engine)
    migrate.upgrade(app.db.engine)
