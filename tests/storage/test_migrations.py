from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, insert, table, text
from sqlmodel import col, select

from app.wiring import App
from core.clock import utcnow
from core.settings import Settings
from storage import migrate
from storage.db import Database, open_database
from storage.models import Candidate, Job, KeyValue
from storage.tables import metadata
from storage.types import UTCDateTime

PHONE = "13912345678"


def test_migrations_match_the_models(app: App) -> None:
    with app.db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), metadata
        )
    assert diff == []


def test_upgrade_is_idempotent(app: App) -> None:
    migrate.upgrade(app.db.engine)
    migrate.upgrade(app.db.engine)


def test_0002_binds_fields_written_before_to_their_rows(settings: Settings) -> None:
    db = open_database(settings)
    migrate.upgrade(db.engine, "0001")
    migrate.downgrade(db.engine, "0001")  # PostgreSQL: the shared database may be at head
    ring = db.keyring
    with db.transaction() as session:
        job = Job(code="sales", title_zh="销售", title_en="Sales")
        session.add(job)
        session.flush()
        session.execute(
            insert(_CANDIDATE),
            [
                {"job_id": job.id, "name": ring.encrypt_text(name), "phone": phone}
                | {"status": "invited", "batch": "default", "created_at": utcnow()}
                for name, phone in (("Zhang Wei", ring.encrypt_text(PHONE)), ("Li Lei", None))
            ],
        )
        session.execute(
            insert(_KEYVALUE).values(key="wechat:menu:1", value=ring.encrypt_text("menu"))
        )

    migrate.upgrade(db.engine)

    assert {t[:3] for t in raw_tokens(db)} == {"e2:"}
    with db.session() as session:
        people = session.exec(select(Candidate).order_by(col(Candidate.id))).all()
        menu = session.get(KeyValue, "wechat:menu:1")
    assert [(p.name, p.phone) for p in people] == [("Zhang Wei", PHONE), ("Li Lei", None)]
    assert menu is not None and menu.value == "menu"

    migrate.downgrade(db.engine, "0001")
    tokens = raw_tokens(db)
    assert {t[:3] for t in tokens} == {"e1:"}
    assert sorted(ring.decrypt_text(t) for t in tokens) == sorted(
        ["Zhang Wei", PHONE, "Li Lei", "menu"]
    )
    migrate.upgrade(db.engine)
    db.engine.dispose()


_CANDIDATE = table(
    "candidate",
    *(column(c) for c in ("job_id", "name", "phone", "status", "batch")),
    column("created_at", UTCDateTime),
)
_KEYVALUE = table("keyvalue", column("key"), column("value"))


def raw_tokens(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, phone FROM candidate UNION ALL SELECT value, NULL FROM keyvalue")
        ).all()
    return [t for row in rows for t in row if t is not None]
