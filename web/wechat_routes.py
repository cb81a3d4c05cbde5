"""WeChat Official Account and WeCom callback endpoints (Starlette routes).

WeChat retries a callback up to 3 times when it gets no answer within 5 seconds, so
the endpoint does the least that makes the message durable and answers at once:

1. checks the signature (plaintext mode: ``signature``; compatible and safe modes:
   ``msg_signature`` over the ``Encrypt`` element, then AES decryption) -- a forged
   or stale request gets 403 and nothing is stored;
2. maps the XML to an event and commits it to the engine's inbox
   (``engine.receive``; a retry is a duplicate and is dropped). Voice and video
   messages are first claimed in ``KeyValue`` (``wechat:pending:<event id>``) because
   their event can only be built after the download;
3. answers ``success`` (WeCom: an empty body) and processes in a background task:
   ``engine.process`` (or download -> ``engine.handle`` for media), then wakes the
   outbox dispatcher. ``CallbackTasks.recover()`` at start-up finishes claimed media.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from app.host import App
from app.runtime import ChannelHost
from bot.wechat import Incoming, WeChatChannel, build_wechat
from bot.wecom import WeComChannel, build_wecom
from core.errors import ChannelError
from web.replay import ReplayStore, Seen, body_digest, replay_store, triple_key

log = logging.getLogger(__name__)

WECHAT_PATH = "/wechat/callback"
WECOM_PATH = "/wecom/callback"
MAX_SKEW_SECONDS = 300
# A signed triple is fresh for MAX_SKEW_SECONDS either side of its timestamp.
REPLAY_WINDOW = dt.timedelta(seconds=2 * MAX_SKEW_SECONDS + 60)
MEDIA_ATTEMPTS = 3

T = TypeVar("T")
# What a stored callback needs next: (event id, chat) to process, or media to fetch.
Work = tuple[str, str] | Incoming | None


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class CallbackTasks:
    """Background work started by callbacks: bounded, tracked, drained on shutdown."""

    app: App
    wechat: WeChatChannel | None = None
    concurrency: int = 2
    wakeup: asyncio.Event | None = None
    inbound_threads: int = 4
    yield_seconds: float = 0.2
    answer_within: float = 4.0
    retry_delays: tuple[float, ...] = (1.0, 5.0)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _sem: asyncio.Semaphore | None = None
    _inbound: ThreadPoolExecutor | None = None

    _inflight: int = 0
    _chats: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)
    _idle: asyncio.Event | None = None

    async def inbound(self, fn: Callable[[str], T], xml: str) -> T:
        """Run the inbox step on threads of its own, never queued behind background work."""
        if self._inbound is None:
            self._inbound = ThreadPoolExecutor(
                max_workers=self.inbound_threads, thread_name_prefix="callback-inbox"
            )
        self._inflight += 1
        self._idle_event().clear()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._inbound, fn, xml)
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle_event().set()

    async def accept_in_time(self, fn: Callable[[str], Work], xml: str) -> None:
        """Store the callback (``fn``) and start its background work.

        WeChat stops waiting after 5 seconds; if the store step is stuck longer than
        ``answer_within`` the caller answers 503 so WeChat retries (the retry is a
        duplicate if the step completes after all, and its work still starts).

        Raises:
            TimeoutError: the store step did not finish in time.
            ValueError: the XML is not a usable callback.
        """
        future = asyncio.ensure_future(self.inbound(fn, xml))
        try:
            work = await asyncio.wait_for(asyncio.shield(future), timeout=self.answer_within)
        except TimeoutError:
            log.error("callback store step took over %.1f s; answering 503", self.answer_within)

            def late(done: asyncio.Future[Work]) -> None:
                if not done.cancelled() and done.exception() is None:
                    self.start(done.result())

            future.add_done_callback(late)
            raise
        self.start(work)

    def start(self, work: Work) -> None:
        """Background work for a stored callback: an event to process, media to fetch."""
        if isinstance(work, tuple):
            event_id, chat = work
            self.spawn(lambda: self.process(event_id), chat=chat)
        elif work is not None:
            inc = work
            self.spawn(lambda: self.media(inc), chat=inc.openid)

    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            self._idle.set()
        return self._idle

    async def _yield_to_callbacks(self) -> None:
        """Background work lets callbacks in flight commit first (they share one writer
        lock on SQLite); it waits at most ``yield_seconds`` so it is never starved."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle_event().wait(), timeout=self.yield_seconds)

    def close(self) -> None:
        if self._inbound is not None:
            self._inbound.shutdown(wait=False)
            self._inbound = None

    def spawn(self, job: Callable[[], Awaitable[None]], *, chat: str | None = None) -> None:
        """Run ``job`` in the background; jobs of one ``chat`` run one at a time, in order."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        sem = self._sem
        lock = self._chat_lock(chat) if chat else None

        async def run() -> None:
            try:
                if lock is not None:
                    await lock.acquire()
                try:
                    async with sem:
                        await job()
                finally:
                    if lock is not None:
                        lock.release()
            except Exception:
                log.exception("background callback work failed")
            finally:
                if chat:
                    self._chat_done(chat)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _chat_lock(self, chat: str) -> asyncio.Lock:
        lock, users = self._chats.get(chat, (asyncio.Lock(), 0))
        self._chats[chat] = (lock, users + 1)
        return lock

    def _chat_done(self, chat: str) -> None:
        lock, users = self._chats[chat]
        if users <= 1:
            del self._chats[chat]
        else:
            self._chats[chat] = (lock, users - 1)

    async def drain(self) -> None:
        """Wait for all background work (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _woke(self) -> None:
        if self.wakeup is not None:
            self.wakeup.set()

    async def process(self, event_id: str) -> None:
        await self._yield_to_callbacks()
        await asyncio.to_thread(self.app.engine.process, event_id)
        self._woke()

    async def media(self, inc: Incoming) -> None:
        """Download, hand to the engine, release the claim; retried on network errors."""
        assert self.wechat is not None
        channel = self.wechat
        for attempt in range(MEDIA_ATTEMPTS):
            try:
                event = await asyncio.to_thread(channel.media_event, inc)
                break
            except ChannelError as exc:
                if attempt + 1 >= MEDIA_ATTEMPTS:
                    log.warning(
                        "giving up on media %s for now (kept for recovery): %s", inc.event_id, exc
                    )
                    return
                await asyncio.sleep(self.retry_delays[min(attempt, len(self.retry_delays) - 1)])
        await self._yield_to_callbacks()
        await asyncio.to_thread(self.app.engine.handle, event)
        await asyncio.to_thread(channel.finish_media, inc)
        self._woke()

    async def recover(self) -> int:
        """Start the media messages claimed before a crash again."""
        if self.wechat is None:
            return 0
        purged = await asyncio.to_thread(self.wechat.purge_expired)
        if purged:
            log.info("wechat: %d expired menus, claims and cards removed", purged)
        pending = await asyncio.to_thread(self.wechat.pending_media)
        for inc in pending:
            self.start(inc)
        return len(pending)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        # ASCII digits only: "²" and "١٢" pass isdigit(), and 5000 digits overflow int().
        if not (declared.isascii() and declared.isdigit() and len(declared) <= 18):
            raise _Reject(400, "malformed content-length")
        if int(declared) > limit:
            raise _Reject(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Reject(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def signature_ok(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """Plaintext-mode ``signature``: sha1 of the sorted token, timestamp and nonce."""
    expected = hashlib.sha1(
        "".join(sorted([token, timestamp, nonce])).encode(), usedforsecurity=False
    ).hexdigest()
    # Bytes: compare_digest refuses non-ASCII str (a forged "signature=%80" was a 500).
    return bool(signature) and hmac.compare_digest(expected.encode(), signature.lower().encode())


def _fresh(timestamp: str, now: float) -> bool:
    """A timestamp of plain ASCII digits within the window (``"²".isdigit()`` is True)."""
    return (
        0 < len(timestamp) <= 12
        and timestamp.isascii()
        and timestamp.isdigit()
        and abs(now - int(timestamp)) <= MAX_SKEW_SECONDS
    )


# Query parameters a callback's signature or answer depends on.
SIGNED_PARAMS = ("timestamp", "nonce", "signature", "msg_signature", "encrypt_type", "echostr")


def _duplicated(request: Request) -> str | None:
    """A signed parameter given twice (which value is checked would be the server's
    choice, not the signer's), or None."""
    q = request.query_params
    return next((name for name in SIGNED_PARAMS if len(q.getlist(name)) > 1), None)


def _guarded(
    replay: ReplayStore,
    app: App,
    key: str,
    body: bytes,
    store: Callable[[str], Work],
) -> Callable[[str], Work]:
    """``store`` behind the replay guard (runs on the inbound threads: it writes).

    A retry (same signed triple, same body) is stored again, which the inbox and the
    media claim drop as duplicates; the same triple with another body is refused.
    """

    def run(xml: str) -> Work:
        now = app.services.clock.now()
        seen = replay.record(key, body_digest(body), now + REPLAY_WINDOW, now)
        if seen is Seen.FORGED:
            raise _Reject(403, "a seen signature with another body")
        return store(xml)

    return run


def wechat_routes(
    app: App,
    *,
    wechat: WeChatChannel | None = None,
    wecom: WeComChannel | None = None,
    tasks: CallbackTasks | None = None,
    now: Callable[[], float] | None = None,
) -> list[Route]:
    """Callback routes for the enabled channels.

    Args:
        app: the wired application.
        wechat: the Official Account channel (built from settings when enabled and not given).
        wecom: the WeCom channel (likewise).
        tasks: where background work goes; one is made if not given.
        now: seconds since the epoch for the timestamp check (tests pass the fake clock's).
    """
    settings = app.settings
    wc = settings.wechat
    if wechat is None and wc.enabled:
        wechat = build_wechat(app)
    if wecom is None and wc.work_enabled:
        wecom = build_wecom(app)
    tasks = tasks or CallbackTasks(app, wechat=wechat)
    if tasks.wechat is None:
        tasks.wechat = wechat
    clock = now or (lambda: app.services.clock.now().timestamp())
    limit = settings.web.max_body_bytes
    redis_url = settings.app.redis_url.get_secret_value() if settings.app.redis_url else None
    replay = replay_store(app.db, redis_url)
    routes: list[Route] = []

    if wechat is not None:
        if not wc.token:
            raise ChannelError("wechat.token (WECHAT_TOKEN) is required for the callback")
        token = wc.token.get_secret_value()
        crypto = (
            WeChatCrypto(token, wc.aes_key.get_secret_value(), wc.app_id)
            if wc.aes_key and wc.app_id
            else None
        )
        channel = wechat

        def accept(xml: str) -> Work:
            """Inbox first (sync, fast); returns the background work to start, if any."""
            inc = channel.incoming(xml)
            if inc is None:
                return None
            if inc.event is not None:
                return (inc.event.event_id, inc.openid) if app.engine.receive(inc.event) else None
            return inc if channel.claim_media(inc) else None

        def verify(request: Request, body: bytes) -> str:
            q = request.query_params
            if (twice := _duplicated(request)) is not None:
                raise _Reject(400, f"{twice} given twice")
            timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
            if not _fresh(timestamp, clock()):
                raise _Reject(403, "stale or missing timestamp")
            if crypto is not None and q.get("encrypt_type", "raw").lower() != "aes":
                # With an EncodingAESKey only encrypted callbacks are accepted: the plain
                # ``signature`` does not cover the body.
                raise _Reject(403, "safe mode: encrypted callbacks only")
            if q.get("encrypt_type", "raw").lower() == "aes":
                if crypto is None:
                    raise _Reject(403, "encrypted callback but no aes_key configured")
                try:
                    return str(
                        crypto.decrypt_message(body, q.get("msg_signature", ""), timestamp, nonce)
                    )
                except (InvalidSignatureException, InvalidAppIdException) as exc:
                    raise _Reject(403, "bad signature") from exc
                except Exception as exc:
                    raise _Reject(400, "undecryptable body") from exc
            if not signature_ok(token, q.get("signature", ""), timestamp, nonce):
                raise _Reject(403, "bad signature")
            return body.decode("utf-8", errors="replace")

        async def wechat_get(request: Request) -> Response:
            q = request.query_params
            if _duplicated(request) is not None:
                return PlainTextResponse("bad request", status_code=400)
            if not _fresh(q.get("timestamp", ""), clock()) or not signature_ok(
                token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", "")
            ):
                return PlainTextResponse("forbidden", status_code=403)
            return PlainTextResponse(q.get("echostr", ""))

        async def wechat_post(request: Request) -> Response:
            try:
                body = await read_body(request, limit)
                xml = verify(request, body)
                q = request.query_params
                signed = q.get("msg_signature", "") or q.get("signature", "")
                key = triple_key("wechat", q.get("timestamp", ""), q.get("nonce", ""), signed)
                await tasks.accept_in_time(_guarded(replay, app, key, body, accept), xml)
            except _Reject as exc:
                log.warning("wechat callback refused: %s", exc)
                return PlainTextResponse(
                    "forbidden" if exc.status == 403 else "bad request", status_code=exc.status
                )
            except ValueError:
                return PlainTextResponse("bad request", status_code=400)
            except TimeoutError:
                return PlainTextResponse("busy", status_code=503)  # WeChat will retry
            return PlainTextResponse("success")

        routes += [
            Route(WECHAT_PATH, wechat_get, methods=["GET"]),
            Route(WECHAT_PATH, wechat_post, methods=["POST"]),
        ]

    if wecom is not None:
        if not (wc.work_token and wc.work_aes_key and wc.corp_id):
            raise ChannelError(
                "WECOM_TOKEN, WECOM_AES_KEY and WECOM_CORP_ID are required for the WeCom callback"
            )
        work_crypto = WorkCrypto(
            wc.work_token.get_secret_value(), wc.work_aes_key.get_secret_value(), wc.corp_id
        )
        work = wecom

        def work_accept(xml: str) -> Work:
            event = work.incoming(xml)
            if event is not None and app.engine.receive(event):
                return (event.event_id, event.user_id)
            return None

        async def wecom_get(request: Request) -> Response:
            q = request.query_params
            if _duplicated(request) is not None:
                return PlainTextResponse("bad request", status_code=400)
            if not _fresh(q.get("timestamp", ""), clock()):
                return PlainTextResponse("forbidden", status_code=403)
            try:
                echo = work_crypto.check_signature(
                    q.get("msg_signature", ""),
                    q.get("timestamp", ""),
                    q.get("nonce", ""),
                    q.get("echostr", ""),
                )
            except (InvalidSignatureException, InvalidAppIdException):
                return PlainTextResponse("forbidden", status_code=403)
            except Exception:
                return PlainTextResponse("bad request", status_code=400)
            return PlainTextResponse(str(echo))

        async def wecom_post(request: Request) -> Response:
            q = request.query_params
            try:
                body = await read_body(request, limit)
                if (twice := _duplicated(request)) is not None:
                    raise _Reject(400, f"{twice} given twice")
                if not _fresh(q.get("timestamp", ""), clock()):
                    raise _Reject(403, "stale or missing timestamp")
                try:
                    xml = str(
                        work_crypto.decrypt_message(
                            body,
                            q.get("msg_signature", ""),
                            q.get("timestamp", ""),
                            q.get("nonce", ""),
                        )
                    )
                except (InvalidSignatureException, InvalidAppIdException) as exc:
                    raise _Reject(403, "bad signature") from exc
                except Exception as exc:
                    raise _Reject(400, "undecryptable body") from exc
                key = triple_key(
                    "wecom",
                    q.get("timestamp", ""),
                    q.get("nonce", ""),
                    q.get("msg_signature", ""),
                )
                await tasks.accept_in_time(_guarded(replay, app, key, body, work_accept), xml)
            except _Reject as exc:
                log.warning("wecom callback refused: %s", exc)
                return PlainTextResponse(
                    "forbidden" if exc.status == 403 else "bad request", status_code=exc.status
                )
            except ValueError:
                return PlainTextResponse("bad request", status_code=400)
            except TimeoutError:
                return PlainTextResponse("busy", status_code=503)  # WeCom will retry
            return PlainTextResponse("")

        routes += [
            Route(WECOM_PATH, wecom_get, methods=["GET"]),
            Route(WECOM_PATH, wecom_post, methods=["POST"]),
        ]

    return routes


async def start_wechat(rt: ChannelHost) -> None:
    """``python main.py run``: the Official Account and/or WeCom callbacks in the web app.

    Registers the messengers in ``app.channels``, adds the callback routes (which
    starts the web server), finishes media messages a crash left half-done, and drains
    background work on shutdown.
    """
    app = rt.app
    wc = app.settings.wechat
    wechat = build_wechat(app) if wc.enabled else None
    wecom = build_wecom(app) if wc.work_enabled else None
    tasks = CallbackTasks(app, wechat=wechat, wakeup=rt.dispatcher.wakeup)
    routes: list[BaseRoute] = list(wechat_routes(app, wechat=wechat, wecom=wecom, tasks=tasks))
    rt.add_routes(routes)
    # The invitations' scene QR codes are made by a job wired in app/wiring.py (every
    # process, the console chat too), not here.
    recovered = await tasks.recover()
    if recovered:
        log.info("wechat: %d media messages left half-done are being fetched again", recovered)
    base = app.settings.app.public_base_url.rstrip("/")
    if wechat is not None:
        log.info("wechat: Official Account callback at %s%s", base, WECHAT_PATH)
    if wecom is not None:
        log.info("wecom: application callback at %s%s", base, WECOM_PATH)

    async def close() -> None:
        await tasks.drain()
        tasks.close()

    rt.on_close(close)
