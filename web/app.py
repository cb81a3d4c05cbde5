"""The one ASGI app: health check, Telegram webhook, and routes other parts add.

``create_app(app, extra_routes=[...])`` builds it; WeChat callbacks and contract
signing pages come in through ``extra_routes``. Every request body is capped at
``[web] max_body_bytes`` (413 above it), whether or not it declares its length.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.host import App
from web.readiness import not_ready
from web.security import SecurityMiddleware

log = logging.getLogger(__name__)

TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


@runtime_checkable
class WebhookReceiver(Protocol):
    """What the Telegram channel offers the webhook route (``bot.telegram.TelegramChannel``)."""

    async def feed_webhook(self, data: dict[str, Any]) -> None: ...


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413.

    Checks ``Content-Length`` first, then counts the bytes actually received, so a
    chunked upload without a length cannot get past the limit either.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _plain(send, 400, b"bad content-length")
                    return
                if declared > self.max_bytes:
                    await _plain(send, 413, b"request body too large")
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _plain(send, 413, b"request body too large")


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(app: App, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The ASGI application.

    Args:
        app: the wired application (its ``channels`` hold the Telegram channel).
        extra_routes: routes other parts add (WeChat callbacks, signing pages).
    """

    async def healthz(_request: Request) -> Response:
        try:
            await asyncio.to_thread(_db_ok, app)
        except Exception as exc:
            log.warning("health check: database unreachable: %s", exc)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "channels": sorted(app.channels)})

    async def readyz(_request: Request) -> Response:
        reason = await asyncio.to_thread(not_ready, app)
        if reason is not None:
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def telegram_webhook(request: Request) -> Response:
        settings = app.settings.telegram
        channel = app.channels.get("telegram")
        if settings.mode != "webhook" or not isinstance(channel, WebhookReceiver):
            return Response(status_code=404)
        expected = (
            settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else b""
        )
        given = request.headers.get(SECRET_HEADER, "").encode()
        # Constant-time comparison; with no secret configured nothing is accepted.
        if not expected or not hmac.compare_digest(given, expected):
            log.warning(
                "telegram webhook: wrong or missing secret token from %s",
                request.client.host if request.client else "?",
            )
            return Response(status_code=403)
        try:
            data = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return Response(status_code=400)
        if not _looks_like_an_update(data):
            return Response(status_code=400)
        try:
            await channel.feed_webhook(data)
        except ValueError as exc:  # not an update Telegram would send: no retry helps
            log.warning("telegram webhook: refused update: %s", exc)
            return Response(status_code=400)
        except Exception:
            # Not stored: a non-2xx answer makes Telegram deliver it again later.
            log.exception("telegram webhook: could not store update %s", data.get("update_id"))
            return Response(status_code=500)
        return Response(status_code=200)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(TELEGRAM_WEBHOOK_PATH, telegram_webhook, methods=["POST"]),
        *extra_routes,
    ]
    web = Starlette(routes=routes)
    web.add_middleware(BodyLimit, max_bytes=app.settings.web.max_body_bytes)
    # Outermost: content types per route and security headers, on every answer (web/security.py).
    web.add_middleware(
        SecurityMiddleware, https=app.settings.app.public_base_url.startswith("https://")
    )
    return web


# Update fields whose value Telegram always sends as an object.
_OBJECT_FIELDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "inline_query",
)


def _looks_like_an_update(data: object) -> bool:
    """An object with a plain non-negative integer ``update_id`` and object-valued parts."""
    if not isinstance(data, dict):
        return False
    update_id = data.get("update_id")
    if type(update_id) is not int or not 0 <= update_id < 2**53:  # bool is an int
        return False
    return all(isinstance(data[name], dict) for name in _OBJECT_FIELDS if name in data)


def _db_ok(app: App) -> None:
    with app.db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
