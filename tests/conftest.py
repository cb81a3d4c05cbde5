"""Shared fixtures: settings on a temp data dir, an app on SQLite (and PostgreSQL when
``TEST_DATABASE_URL`` is set), a recording messenger and a conversation harness."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.wiring import App, build_app
from core.clock import FakeClock
from core.settings import Settings, load_settings
from tests.harness import Chat, RecordingMessenger

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL")

# Property tests check properties, not speed: on a shared 2-core runner one example can
# take longer than Hypothesis' 200 ms default deadline, which then fails at random.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``postgres_subset(keep)`` runs on PostgreSQL only with the parameters
    ``keep`` accepts: table-driven tests whose other cases take the same code path on both
    databases run those once, on SQLite (they are deselected, not skipped)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("postgres_subset")
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_postgres = any(isinstance(v, str) and v == "postgres" for v in params.values())
        if marker is not None and on_postgres and not marker.args[0](params):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# Telegram on, its bot named in config.toml (no getMe in these tests): invitations then
# carry a link and its QR code (a console-only setup has no channel for candidates).
TELEGRAM_ON: dict[str, dict[str, object]] = {
    "telegram": {"enabled": True, "token": "123456:TEST-token"},
    "app": {"bot_username": "InterviewerTestBot"},
}


def make_settings(tmp: Path, db_url: str | None = None, **overrides: dict[str, object]) -> Settings:
    base: dict[str, dict[str, object]] = {
        "app": {"data_dir": str(tmp / "data")},
        "database": {"url": db_url or f"sqlite:///{tmp / 'data' / 'test.sqlite3'}"},
        "security": {"key_file": str(tmp / "data" / "keys" / "data.key")},
        # Scripted conversations send faster than people; tests/dialogs/kernel/test_ratelimit.py
        # turns the per-user limits on.
        "ratelimit": {"enabled": False},
        # Nor does a scripted conversation's clock move: HR groups get no per-minute budget
        # here; tests/dialogs/kernel/test_group_posts.py and the group tests set theirs.
        "groups": {
            "per_minute": {p: 1_000_000 for p in ("console", "telegram", "wecom", "wechat")},
            "window_seconds": 60,
        },
        "roles": {
            "admins": ["console:admin"],
            "hr_managers": ["console:hr"],
            "hr_viewers": ["console:viewer"],
        },
    }
    for section, values in overrides.items():
        base.setdefault(section, {}).update(values)
    return load_settings(ROOT / "config.toml", env={}, overrides=base)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A private PostgreSQL database for this test run (parallel runs don't collide)."""
    if not PG_URL:
        yield None
        return
    admin_url = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_pg(url: str) -> None:
    """Empty every table (migrations stay applied): much faster than a new schema."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        if tables:
            conn.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"] if PG_URL else ["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_database: str | None) -> str:
    if request.param == "postgres":
        assert pg_database is not None
        _reset_pg(pg_database)
        return pg_database
    return f"sqlite:///{tmp_path / 'data' / 'test.sqlite3'}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def messenger() -> RecordingMessenger:
    return RecordingMessenger()


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = build_app(settings, clock=clock)
    application.channels["console"] = messenger
    yield application
    application.db.close()


@pytest.fixture
def chat(app: App, messenger: RecordingMessenger) -> Chat:
    conversation = Chat(app, messenger)
    conversation.languages.update({"admin": "en", "hr": "en", "viewer": "en"})
    return conversation


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """Logging as it was before the test: a test that runs ``setup_logging`` (the demo,
    the log scan, a ``run``) must not leave its handlers and levels to the tests after
    it, which would then see log lines on their captured stderr."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))
