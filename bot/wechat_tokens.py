"""WeChat and WeCom access tokens, shared between processes.

Every ``token`` / ``gettoken`` call invalidates the token other processes hold
(after a short grace period), so all processes of one deployment must share one
cache. The cache lives in the ``KeyValue`` table (value encrypted at rest) or, when
``app.redis_url`` is set, in Redis. A token is refreshed ``margin`` seconds before it
expires, under a lock (a database write transaction or a Redis ``SET NX`` lock) so
only one process calls the platform; the others then read the new token. A call
that fails with errcode 40001/40014/42001 (invalid or expired token) refreshes the
token once and is tried once more.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
from sqlalchemy.exc import IntegrityError
from wechatpy.exceptions import WeChatClientException

from core.clock import Clock, as_utc
from core.errors import ChannelError
from storage.db import Database
from storage.models import KeyValue

log = logging.getLogger(__name__)

T = TypeVar("T")

# invalid credential, invalid access_token, access_token expired
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
DEFAULT_MARGIN = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CachedToken:
    value: str
    expires_at: dt.datetime

    def fresh(self, now: dt.datetime, margin: dt.timedelta) -> bool:
        return as_utc(self.expires_at) - margin > now


Fetch = Callable[[], tuple[str, int]]


class TokenStore(Protocol):
    """Where tokens are shared between processes."""

    def load(self, key: str) -> CachedToken | None:
        """The stored token, fresh or not, or None."""
        ...

    def refresh(
        self, key: str, fetch: Fetch, *, stale: str | None, margin: dt.timedelta, now: dt.datetime
    ) -> CachedToken:
        """Under a cross-process lock: keep a token another process just fetched, else fetch one."""
        ...


class DbTokenStore:
    """Tokens in the ``KeyValue`` table (encrypted ``value``, ``expires_at``).

    One process refreshes at a time: it takes a lease row (``lease:<key>``, 30 s) in a
    short transaction, calls the platform *outside* any transaction (a slow platform
    must not hold the database's writer lock, which the callbacks need), then stores
    the token and drops the lease. The others wait for the new token; if the lease
    holder died, its lease expires and another process takes over.
    """

    lease = dt.timedelta(seconds=30)

    def __init__(self, db: Database, *, wait_s: float = 20.0, poll_s: float = 0.1) -> None:
        self.db = db
        self.wait_s = wait_s
        self.poll_s = poll_s

    def load(self, key: str) -> CachedToken | None:
        with self.db.transaction() as session:
            row = session.get(KeyValue, key)
            if row is None or row.expires_at is None:
                return None
            return CachedToken(row.value, as_utc(row.expires_at))

    def refresh(
        self, key: str, fetch: Fetch, *, stale: str | None, margin: dt.timedelta, now: dt.datetime
    ) -> CachedToken:
        lease_key = f"lease:{key}"[:120]
        deadline = time.monotonic() + self.wait_s
        while True:
            current, leased = self._current_or_lease(
                key, lease_key, stale=stale, margin=margin, now=now
            )
            if current is not None:
                return current
            if leased or time.monotonic() > deadline:
                break
            time.sleep(self.poll_s)
        try:
            value, expires_in = fetch()
            token = CachedToken(value, now + dt.timedelta(seconds=expires_in))
            with self.db.transaction() as session:
                row = session.get(KeyValue, key) or KeyValue(key=key, value=value)
                row.value = value
                row.expires_at = token.expires_at
                session.add(row)
            return token
        finally:
            with self.db.transaction() as session:
                held = session.get(KeyValue, lease_key)
                if held is not None:
                    session.delete(held)

    def _current_or_lease(
        self, key: str, lease_key: str, *, stale: str | None, margin: dt.timedelta, now: dt.datetime
    ) -> tuple[CachedToken | None, bool]:
        """A token someone else renewed, or whether we now hold the lease."""
        try:
            with self.db.transaction() as session:
                row = session.get(KeyValue, key)
                if row is not None and row.expires_at is not None:
                    current = CachedToken(row.value, as_utc(row.expires_at))
                    if current.value != stale and current.fresh(now, margin):
                        return current, False
                real_now = dt.datetime.now(dt.UTC)
                held = session.get(KeyValue, lease_key, with_for_update=True)
                if (
                    held is not None
                    and held.expires_at is not None
                    and as_utc(held.expires_at) > real_now
                ):
                    return None, False
                held = held or KeyValue(key=lease_key, value="")
                held.value = uuid.uuid4().hex
                held.expires_at = real_now + self.lease
                session.add(held)
                return None, True
        except IntegrityError:
            return None, False  # another process inserted the lease first


class RedisLike(Protocol):
    def get(self, name: str) -> Any: ...

    def set(
        self, name: str, value: str, ex: Any = None, px: Any = None, nx: bool = False
    ) -> Any: ...

    def delete(self, *names: str) -> Any: ...


class RedisTokenStore:
    """Tokens in Redis with a ``SET NX PX`` lock around the refresh."""

    def __init__(
        self,
        redis: RedisLike,
        *,
        prefix: str = "interviewer",
        lock_ms: int = 15_000,
        wait_s: float = 15.0,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lock_ms = lock_ms
        self.wait_s = wait_s

    def _name(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def load(self, key: str) -> CachedToken | None:
        raw = self.redis.get(self._name(key))
        if raw is None:
            return None
        data = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
        return CachedToken(str(data["value"]), dt.datetime.fromisoformat(str(data["expires_at"])))

    def refresh(
        self, key: str, fetch: Fetch, *, stale: str | None, margin: dt.timedelta, now: dt.datetime
    ) -> CachedToken:
        lock = self._name(f"lock:{key}")
        me = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_s
        while not self.redis.set(lock, me, nx=True, px=self.lock_ms):
            if time.monotonic() > deadline:
                raise ChannelError("waited too long for the token refresh lock", retryable=True)
            time.sleep(0.05)
        try:
            current = self.load(key)
            if current is not None and current.value != stale and current.fresh(now, margin):
                return current
            value, expires_in = fetch()
            token = CachedToken(value, now + dt.timedelta(seconds=expires_in))
            payload = json.dumps({"value": value, "expires_at": token.expires_at.isoformat()})
            self.redis.set(self._name(key), payload, ex=max(1, int(expires_in)))
            return token
        finally:
            held = self.redis.get(lock)
            if held is not None and (held.decode() if isinstance(held, bytes) else str(held)) == me:
                self.redis.delete(lock)


class AccessTokens:
    """One platform credential's token: cached in memory, shared through a store."""

    def __init__(
        self,
        store: TokenStore,
        key: str,
        fetch: Fetch,
        clock: Clock,
        *,
        margin: dt.timedelta = DEFAULT_MARGIN,
    ) -> None:
        self.store = store
        self.key = key
        self.fetch = fetch
        self.clock = clock
        self.margin = margin
        self._memo: CachedToken | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        """A token valid for at least ``margin`` more; refreshed if needed."""
        now = self.clock.now()
        memo = self._memo
        if memo is not None and memo.fresh(now, self.margin):
            return memo.value
        with self._lock:
            stored = self.store.load(self.key)
            if stored is not None and stored.fresh(now, self.margin):
                self._memo = stored
                return stored.value
            return self._refresh(stale=None)

    def refresh(self, stale: str | None) -> str:
        """Replace ``stale`` (a token the platform refused) unless another process already did."""
        with self._lock:
            return self._refresh(stale=stale)

    def _refresh(self, *, stale: str | None) -> str:
        token = self.store.refresh(
            self.key, self.fetch, stale=stale, margin=self.margin, now=self.clock.now()
        )
        self._memo = token
        return token.value

    def call(self, fn: Callable[[], T]) -> T:
        """Run a wechatpy call; on an invalid/expired token refresh once and try once more."""
        used = self.get()
        try:
            return fn()
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRCODES:
                raise
            log.info("access token refused (errcode %s): refreshing once", exc.errcode)
        self.refresh(stale=used)
        return fn()


# ------------------------------------------------------------------ fetchers
def _fetch(url: str, params: dict[str, str], timeout: float) -> tuple[str, int]:
    try:
        response = httpx.get(url, params=params, timeout=timeout)
        response.raise_for_status()
        data = response.json()
    except httpx.HTTPStatusError as exc:
        raise ChannelError(
            f"token endpoint answered HTTP {exc.response.status_code}", retryable=True
        ) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise ChannelError(
            f"token endpoint unreachable: {type(exc).__name__}", retryable=True
        ) from exc
    errcode = int(data.get("errcode", 0) or 0)
    if errcode or "access_token" not in data:
        # -1: system busy; anything else (wrong secret, IP not allowed) needs the operator.
        raise ChannelError(
            f"token refused: errcode {errcode} {data.get('errmsg', '')}".strip(),
            retryable=errcode == -1,
        )
    return str(data["access_token"]), int(data.get("expires_in", 7200))


def official_fetcher(
    api_base_url: str, app_id: str, secret: str, *, timeout: float = 10.0
) -> Fetch:
    """``GET {base}token?grant_type=client_credential`` for an Official Account."""
    url = api_base_url.rstrip("/") + "/token"
    return lambda: _fetch(
        url, {"grant_type": "client_credential", "appid": app_id, "secret": secret}, timeout
    )


def work_fetcher(
    work_api_base_url: str, corp_id: str, secret: str, *, timeout: float = 10.0
) -> Fetch:
    """``GET {base}gettoken`` for a WeCom application."""
    url = work_api_base_url.rstrip("/") + "/gettoken"
    return lambda: _fetch(url, {"corpid": corp_id, "corpsecret": secret}, timeout)


def token_store(db: Database, redis_url: str | None) -> TokenStore:
    """Redis when configured, else the database."""
    if redis_url:
        import redis

        return RedisTokenStore(redis.Redis.from_url(redis_url))
    return DbTokenStore(db)


class SharedTokenClient:
    """Mixin for wechatpy clients: tokens come from :class:`AccessTokens` (one cache shared
    by every process), and the API base URL is configurable (a fake server in tests, a
    proxy in production). Put it before the wechatpy client class in the bases."""

    API_BASE_URL: str
    tokens: AccessTokens

    def use_shared_tokens(self, tokens: AccessTokens, api_base_url: str) -> None:
        self.API_BASE_URL = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.tokens = tokens

    @property
    def access_token(self) -> str:
        return self.tokens.get()

    def fetch_access_token(self) -> dict[str, Any]:
        return {"access_token": self.tokens.refresh(stale=None)}
