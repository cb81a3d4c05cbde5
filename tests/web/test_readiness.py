"""``/readyz``: ready only when not draining, the database answers at the migrations'
head and the configured broker and Redis answer; reasons never carry a secret."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from app.wiring import App, build_app
from tests.conftest import make_settings
from web.app import create_app
from web.readiness import migration_heads

PASSWORD = "readiness-pass-0123456789"


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = build_app(make_settings(tmp_path))
    yield application
    application.db.engine.dispose()


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def not_ready(client: httpx.AsyncClient) -> str:
    response = await client.get("/readyz")
    assert response.status_code == 503, response.text
    assert PASSWORD not in response.text and "127.0.0.1" not in response.text
    reason = response.json()["reason"]
    assert isinstance(reason, str)
    return reason


VERSIONS = Path(__file__).resolve().parents[2] / "storage" / "migrations" / "versions"


async def test_ready_when_the_database_is_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ready"}
    # One head: the newest migration file's revision.
    newest = max(p.name[:4] for p in VERSIONS.glob("0*.py"))
    assert migration_heads() == {newest}


async def test_draining_is_not_ready_while_alive(app: App, client: httpx.AsyncClient) -> None:
    app.draining = True
    assert await not_ready(client) == "shutting down"
    assert (await client.get("/healthz")).status_code == 200


async def test_a_schema_behind_the_code_is_not_ready(app: App, client: httpx.AsyncClient) -> None:
    with app.db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    assert "head" in await not_ready(client)


async def test_an_unreachable_database_is_not_ready(app: App, client: httpx.AsyncClient) -> None:
    app.db.engine.dispose()
    app.db.engine = create_engine(f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x")
    assert await not_ready(client) == "database unreachable"


async def test_an_unreachable_broker_or_redis_is_not_ready(
    app: App, client: httpx.AsyncClient
) -> None:
    app.settings.workers.backend = "celery"
    app.settings.workers.broker_url = SecretStr(f"amqp://guest:{PASSWORD}@127.0.0.1:1//")
    assert await not_ready(client) == "job broker unreachable"
    app.settings.workers.backend = "database"
    app.settings.ratelimit.redis_url = SecretStr(f"redis://:{PASSWORD}@127.0.0.1:1/13")
    assert await not_ready(client) == "redis unreachable"


async def test_a_reachable_broker_and_redis_are_ready(app: App, client: httpx.AsyncClient) -> None:
    if not (listening(5672) and listening(6379)):
        pytest.skip("RabbitMQ on 127.0.0.1:5672 and Redis on 127.0.0.1:6379 needed")
    app.settings.workers.backend = "celery"
    app.settings.workers.broker_url = SecretStr("amqp://guest:guest@127.0.0.1:5672//")
    app.settings.ratelimit.redis_url = SecretStr("redis://127.0.0.1:6379/13")
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
