"""Migration 0002 hashes the invitation tokens an existing database holds in plaintext."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import select

from app.wiring import build_app
from core.clock import FakeClock
from storage import migrate
from storage.crypto import token_hash
from storage.db import open_database
from storage.models import BackgroundJob, Invitation
from storage.types import UTCDateTime
from tests.conftest import PG_URL, make_settings
from tests.dialogs.token_helpers import database_text
from tests.harness import Chat, RecordingMessenger

LEGACY = "Jd2LkIhcpuihb2DEIwlvHU8X"  # as new_token() made them
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgres"] if PG_URL else ["sqlite"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet (the shared test databases are at head already)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'old.sqlite3'}"
        return
    assert PG_URL is not None
    admin_url = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"m_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _row(table: str, **values: object) -> tuple[sa.TableClause, dict[str, object]]:
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "created_at": UTCDateTime(),
        "expires_at": UTCDateTime(),
        "run_after": UTCDateTime(),
        "competencies": sa.JSON(),
        "contract_defaults": sa.JSON(),
        "payload": sa.JSON(),
    }
    return sa.table(table, *(sa.column(k, types.get(k)) for k in values)), values


def test_links_handed_out_before_the_upgrade_still_open(tmp_path: Path, empty_db: str) -> None:
    settings = make_settings(tmp_path, empty_db)
    db = open_database(settings)
    migrate.upgrade(db.engine, "0001")
    seal = db.keyring.encrypt_text
    with db.engine.begin() as conn:
        for table, values in (
            _row(
                "job",
                id=1,
                code="sales",
                title_zh="销售代表",
                title_en="Sales rep",
                competencies=[],
                pass_line=70.0,
                default_language="en",
                practice_question=False,
                auto_reject=False,
                contract_defaults={},
                active=True,
                created_at=NOW,
            ),
            _row(
                "candidate",
                id=1,
                job_id=1,
                name=seal("Wang Fang"),
                status="invited",
                batch="default",
                created_at=NOW,
            ),
            _row(
                "invitation",
                id=1,
                token=LEGACY,
                candidate_id=1,
                job_id=1,
                code=seal("123456"),
                expires_at=NOW + dt.timedelta(days=7),
                status="pending",
                created_at=NOW,
            ),
            _row(
                "backgroundjob",
                id=1,
                kind="wechat_invite_qr",
                key="wechat_qr:1",
                payload={"token": LEGACY, "platform": "console", "chat_id": "hr"},
                status="done",
                attempts=1,
                max_attempts=3,
                run_after=NOW,
                created_at=NOW,
            ),
        ):
            conn.execute(sa.insert(table).values(values))

    app = build_app(settings, clock=FakeClock(NOW + dt.timedelta(hours=1)), db=db)  # -> head
    try:
        assert LEGACY not in database_text(app)
        with app.db.session() as session:
            inv = session.exec(select(Invitation)).one()
            job = session.exec(select(BackgroundJob)).one()
        assert inv.token_hash == token_hash(LEGACY)
        assert "token" not in job.payload and job.payload["chat_id"] == "hr"

        messenger = RecordingMessenger()
        app.channels["console"] = messenger
        chat = Chat(app, messenger)
        reply = chat.send("wang", f"/start {LEGACY}", lang="en")[-1].text
        assert "not valid" not in reply
        with app.db.session() as session:
            assert session.exec(select(Invitation.status)).one() == "opened"
    finally:
        app.db.engine.dispose()
