"""The ASGI app: health check, the Telegram webhook's secret check and the body limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from app.wiring import App, build_app
from bot.telegram import TelegramChannel, build_application
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from storage.models import InboxEvent, OutboxMessage
from tests.conftest import make_settings
from tests.fakes.speech import ScriptedTranscriber
from web.app import SECRET_HEADER, TELEGRAM_WEBHOOK_PATH, create_app

SECRET = "webhook-secret-for-tests-0123456789"


def web_settings(tmp: Path, *, mode: str = "webhook") -> Settings:
    return make_settings(
        tmp,
        telegram={
            "enabled": True,
            "token": "123456:TEST-token-unused-no-network",
            "webhook_secret": SECRET,
            "mode": mode,
            "base_url": "http://127.0.0.1:9/bot",  # nothing listens: no call may be made
            "base_file_url": "http://127.0.0.1:9/file/bot",
        },
        web={"max_body_bytes": 2_000},
    )


def make_app(settings: Settings) -> App:
    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    return build_app(
        settings,
        pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator),
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(web_settings(tmp_path))
    yield application
    application.db.engine.dispose()


@pytest.fixture
async def channel(app: App) -> AsyncIterator[TelegramChannel]:
    tg = TelegramChannel(app, build_application(app.settings.telegram))
    app.channels["telegram"] = tg
    yield tg
    await tg.idle()


@pytest.fixture
async def client(app: App, channel: TelegramChannel) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def update(update_id: int = 1, text: str = "hello", message_id: int = 7) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": 0,
            "chat": {"id": 42, "type": "private", "first_name": "Ann"},
            "from": {"id": 42, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "text": text,
        },
    }


def inbox(app: App) -> list[InboxEvent]:
    with app.db.session() as session:
        return list(session.exec(select(InboxEvent)).all())


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "channels": ["telegram"]}


@pytest.mark.parametrize("header", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
async def test_webhook_refuses_a_missing_or_wrong_secret(
    client: httpx.AsyncClient, app: App, header: str | None
) -> None:
    headers = {} if header is None else {SECRET_HEADER: header}
    response = await client.post(TELEGRAM_WEBHOOK_PATH, json=update(), headers=headers)
    assert response.status_code == 403
    assert inbox(app) == []


async def test_webhook_stores_the_update_before_answering(
    client: httpx.AsyncClient, app: App, channel: TelegramChannel
) -> None:
    response = await client.post(
        TELEGRAM_WEBHOOK_PATH, json=update(), headers={SECRET_HEADER: SECRET}
    )
    assert response.status_code == 200
    rows = inbox(app)  # already there when the 200 went out
    assert [r.event_id for r in rows] == ["telegram:u:1:42:7"]
    await channel.idle()
    with app.db.session() as session:
        replies = session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == "42")).all()
    assert replies  # processed: the stranger was told how to start
    again = await client.post(TELEGRAM_WEBHOOK_PATH, json=update(), headers={SECRET_HEADER: SECRET})
    assert again.status_code == 200
    await channel.idle()
    assert len(inbox(app)) == 1
    with app.db.session() as session:
        assert len(session.exec(select(OutboxMessage)).all()) == len(replies)


async def test_webhook_rejects_malformed_bodies(client: httpx.AsyncClient, app: App) -> None:
    headers = {SECRET_HEADER: SECRET, "content-type": "application/json"}
    assert (
        await client.post(TELEGRAM_WEBHOOK_PATH, content=b"{nope", headers=headers)
    ).status_code == 400
    assert (
        await client.post(TELEGRAM_WEBHOOK_PATH, content=b"[1, 2]", headers=headers)
    ).status_code == 400
    assert inbox(app) == []


async def test_body_limit_with_and_without_content_length(
    client: httpx.AsyncClient, app: App
) -> None:
    big = update(text="x" * 3_000)
    headers = {SECRET_HEADER: SECRET}
    response = await client.post(TELEGRAM_WEBHOOK_PATH, json=big, headers=headers)
    assert response.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        body = json.dumps(big).encode()
        for i in range(0, len(body), 500):
            yield body[i : i + 500]

    chunked = await client.post(TELEGRAM_WEBHOOK_PATH, content=chunks(), headers=headers)
    assert chunked.status_code == 413
    assert inbox(app) == []
    small = await client.post(TELEGRAM_WEBHOOK_PATH, json=update(2, "hi", 8), headers=headers)
    assert small.status_code == 200


async def test_webhook_is_404_in_polling_mode(tmp_path: Path) -> None:
    app = make_app(web_settings(tmp_path, mode="polling"))
    app.channels["telegram"] = TelegramChannel(app, build_application(app.settings.telegram))
    transport = httpx.ASGITransport(app=create_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post(
            TELEGRAM_WEBHOOK_PATH, json=update(), headers={SECRET_HEADER: SECRET}
        )
    assert response.status_code == 404
    app.db.engine.dispose()


class BrokenReceiver:
    """A receiver whose storage is down."""

    platform = "telegram"

    async def feed_webhook(self, data: dict[str, Any]) -> None:
        raise RuntimeError("database is down")

    async def deliver(
        self, intent: Any, *, file_data: bytes | None = None, target_message_id: str | None = None
    ) -> str | None:
        return None


async def test_webhook_answers_500_when_the_update_cannot_be_stored(app: App) -> None:
    app.channels["telegram"] = BrokenReceiver()
    transport = httpx.ASGITransport(app=create_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post(
            TELEGRAM_WEBHOOK_PATH, json=update(), headers={SECRET_HEADER: SECRET}
        )
    assert response.status_code == 500  # Telegram delivers it again later


async def test_extra_routes_are_served(app: App) -> None:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("hi")

    transport = httpx.ASGITransport(app=create_app(app, extra_routes=[Route("/hello", hello)]))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/hello")).text == "hi"
