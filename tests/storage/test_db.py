"""The PostgreSQL engine as ``[database]`` configures it: its pool per process and the
commit durability (``synchronous_commit``), on every pooled connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from core.errors import ConfigError
from storage.db import open_database
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("configured", "expected"), [({}, "off"), ({"synchronous_commit": "on"}, "on")]
)
def test_postgres_sessions_commit_as_configured(
    tmp_path: Path, pg_database: str | None, configured: dict[str, object], expected: str
) -> None:
    if pg_database is None:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    settings = make_settings(
        tmp_path, pg_database, database={"pool_size": 3, "max_overflow": 1, **configured}
    )
    db = open_database(settings)
    try:
        assert db.engine.pool.size() == 3  # type: ignore[attr-defined]
        # Every connection of the pool, not only the first: hold three at once.
        connections = [db.engine.connect() for _ in range(3)]
        try:
            seen = {c.execute(text("SHOW synchronous_commit")).scalar_one() for c in connections}
        finally:
            for connection in connections:
                connection.close()
        assert seen == {expected}
        with db.transaction() as session:  # and a transaction commits with it
            assert session.execute(text("SHOW synchronous_commit")).scalar_one() == expected
    finally:
        db.close()


def test_an_unknown_durability_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="database.synchronous_commit: Input should be 'on' or 'off'"
    ):
        make_settings(tmp_path, database={"synchronous_commit": "sometimes"})
