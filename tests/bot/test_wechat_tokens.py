"""The access-token cache: shared between processes, refreshed early, refreshed once on 40001."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wechatpy.exceptions import WeChatClientException

from app.wiring import App, build_app
from bot.wechat import make_client
from bot.wechat_tokens import AccessTokens, DbTokenStore, RedisTokenStore
from core.clock import FakeClock
from core.errors import ChannelError
from storage.models import KeyValue
from tests.fakes.wechat_api import FakeWeChat, wechat_settings


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture
def app(tmp_path: Path, fake: FakeWeChat, db_url: str) -> Iterator[App]:
    """On SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py)."""
    application = build_app(wechat_settings(tmp_path, fake, db_url=db_url), clock=FakeClock())
    yield application
    application.db.engine.dispose()


class Counter:
    def __init__(self, expires_in: int = 7200) -> None:
        self.calls = 0
        self.expires_in = expires_in
        self.lock = threading.Lock()

    def __call__(self) -> tuple[str, int]:
        with self.lock:
            self.calls += 1
            return f"token-{self.calls}", self.expires_in


def test_two_processes_share_one_token_through_the_database(app: App) -> None:
    fetch = Counter()
    clock = app.services.clock
    first = AccessTokens(DbTokenStore(app.db), "wechat:token:x", fetch, clock)
    second = AccessTokens(DbTokenStore(app.db), "wechat:token:x", fetch, clock)  # another process
    assert first.get() == "token-1"
    assert second.get() == "token-1"
    assert fetch.calls == 1


def test_token_is_refreshed_before_it_expires(app: App) -> None:
    fetch = Counter(expires_in=7200)
    clock = app.services.clock
    assert isinstance(clock, FakeClock)
    tokens = AccessTokens(DbTokenStore(app.db), "k", fetch, clock, margin=dt.timedelta(minutes=5))
    assert tokens.get() == "token-1"
    clock.advance(seconds=7200 - 301)
    assert tokens.get() == "token-1"
    clock.advance(seconds=2)  # now inside the 5-minute margin, still before expiry
    assert tokens.get() == "token-2"
    assert fetch.calls == 2


def test_concurrent_refreshes_fetch_once(app: App) -> None:
    fetch = Counter()
    stores = [AccessTokens(DbTokenStore(app.db), "k", fetch, app.services.clock) for _ in range(6)]
    results: list[str] = []
    threads = [threading.Thread(target=lambda t=t: results.append(t.get())) for t in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["token-1"] * 6
    assert fetch.calls == 1


def test_refused_token_is_refreshed_once_and_the_call_retried_once(app: App) -> None:
    fetch = Counter()
    tokens = AccessTokens(DbTokenStore(app.db), "k", fetch, app.services.clock)
    seen: list[str] = []

    def call() -> str:
        seen.append(tokens.get())
        if len(seen) < 3:
            raise WeChatClientException(40001, "invalid credential")
        return "ok"

    with pytest.raises(WeChatClientException):
        tokens.call(call)  # refused twice: refreshed once, retried once, then it gives up
    assert seen == ["token-1", "token-2"]
    assert fetch.calls == 2
    assert tokens.call(call) == "ok"


def test_other_errors_do_not_refresh(app: App) -> None:
    fetch = Counter()
    tokens = AccessTokens(DbTokenStore(app.db), "k", fetch, app.services.clock)

    def call() -> str:
        raise WeChatClientException(45015, "out of window")

    with pytest.raises(WeChatClientException):
        tokens.call(call)
    assert fetch.calls == 1


def test_stale_refresh_keeps_a_token_another_process_already_renewed(app: App) -> None:
    fetch = Counter()
    one = AccessTokens(DbTokenStore(app.db), "k", fetch, app.services.clock)
    two = AccessTokens(DbTokenStore(app.db), "k", fetch, app.services.clock)
    assert one.get() == two.get() == "token-1"
    assert one.refresh(stale="token-1") == "token-2"  # process one saw 40001
    assert two.refresh(stale="token-1") == "token-2"  # process two too: no second fetch
    assert fetch.calls == 2


def test_token_is_encrypted_at_rest(app: App, tmp_path: Path) -> None:
    if not app.db.is_sqlite:
        pytest.skip("reads the SQLite file")
    tokens = AccessTokens(
        DbTokenStore(app.db), "k", lambda: ("very-secret-token-value", 7200), app.services.clock
    )
    tokens.get()
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*.sqlite3*"))
    assert b"SQLite format 3" in raw
    assert b"very-secret-token-value" not in raw


class FakeRedis:
    """Enough of redis-py for the store: get, set(ex, px, nx), delete."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def get(self, name: str) -> bytes | None:
        return self.data.get(name)

    def set(
        self, name: str, value: str, ex: Any = None, px: Any = None, nx: bool = False
    ) -> bool | None:
        with self.lock:
            if nx and name in self.data:
                return None
            self.data[name] = value.encode()
            return True

    def delete(self, *names: str) -> int:
        return sum(1 for n in names if self.data.pop(n, None) is not None)


def test_redis_store_shares_and_refreshes() -> None:
    redis = FakeRedis()
    clock = FakeClock()
    fetch = Counter()
    one = AccessTokens(RedisTokenStore(redis), "k", fetch, clock)
    two = AccessTokens(RedisTokenStore(redis), "k", fetch, clock)
    assert one.get() == two.get() == "token-1"
    assert two.refresh(stale="token-1") == "token-2"
    assert one.refresh(stale="token-1") == "token-2"
    assert fetch.calls == 2
    assert not any(key.endswith("lock:k") for key in redis.data)  # the lock was released


def test_real_client_fetches_from_the_fake_and_recovers_from_40001(
    app: App, fake: FakeWeChat
) -> None:
    client = make_client(app.settings, DbTokenStore(app.db), app.services.clock)
    client.tokens.call(lambda: client.message.send_text("openid-1", "hello"))
    assert fake.tokens_issued == 1
    fake.invalidate_tokens()  # e.g. someone fetched a token with our secret elsewhere
    client.tokens.call(lambda: client.message.send_text("openid-1", "again"))
    assert fake.tokens_issued == 2
    sends = fake.of("message/custom/send")
    assert [c.json["text"]["content"] for c in sends] == ["hello", "again", "again"]


def test_wrong_secret_is_a_permanent_channel_error(app: App, fake: FakeWeChat) -> None:
    def refused() -> tuple[str, int]:
        raise ChannelError("token refused: errcode 40125 invalid appsecret", retryable=False)

    tokens = AccessTokens(DbTokenStore(app.db), "k", refused, app.services.clock)
    with pytest.raises(ChannelError) as info:
        tokens.get()
    assert not info.value.retryable


def test_a_slow_token_endpoint_does_not_hold_the_database(app: App) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow() -> tuple[str, int]:
        started.set()
        release.wait(5)
        return "slow-token", 7200

    tokens = AccessTokens(DbTokenStore(app.db), "k", slow, app.services.clock)
    fetcher = threading.Thread(target=tokens.get)
    fetcher.start()
    assert started.wait(5)
    t0 = time.perf_counter()
    with app.db.transaction() as session:  # what a callback's inbox write needs
        session.add(KeyValue(key="other", value="x"))
    waited = time.perf_counter() - t0
    release.set()
    fetcher.join(5)
    assert waited < 0.5
    other = AccessTokens(DbTokenStore(app.db), "k", Counter(), app.services.clock)
    assert other.get() == "slow-token"


def test_a_dead_lease_holder_is_taken_over(app: App) -> None:
    with app.db.transaction() as session:  # a process died while refreshing
        session.add(
            KeyValue(
                key="lease:k",
                value="dead",
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
            )
        )
    fetch = Counter()
    assert AccessTokens(DbTokenStore(app.db), "k", fetch, app.services.clock).get() == "token-1"
    with app.db.session() as session:
        assert session.get(KeyValue, "lease:k") is None


def test_waiters_get_the_token_the_lease_holder_fetched(app: App) -> None:
    with app.db.transaction() as session:  # another process is refreshing right now
        session.add(
            KeyValue(
                key="lease:k",
                value="busy",
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30),
            )
        )
    store = DbTokenStore(app.db, poll_s=0.02)
    fetch = Counter()
    result: list[str] = []
    waiter = threading.Thread(
        target=lambda: result.append(AccessTokens(store, "k", fetch, app.services.clock).get())
    )
    waiter.start()
    time.sleep(0.2)
    with app.db.transaction() as session:  # ...and stores its token
        session.add(
            KeyValue(
                key="k",
                value="their-token",
                expires_at=app.services.clock.now() + dt.timedelta(hours=2),
            )
        )
    waiter.join(5)
    assert result == ["their-token"]
    assert fetch.calls == 0


def test_real_redis_store_when_a_server_is_running() -> None:
    import uuid

    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    fetch = Counter(expires_in=3600)
    try:
        one = AccessTokens(RedisTokenStore(client, prefix=prefix), "k", fetch, FakeClock())
        two = AccessTokens(RedisTokenStore(client, prefix=prefix), "k", fetch, FakeClock())
        assert one.get() == two.get() == "token-1"
        assert 3500 < int(client.ttl(f"{prefix}:k")) <= 3600  # Redis drops it when WeChat would
        assert two.refresh(stale="token-1") == "token-2"
        assert one.refresh(stale="token-1") == "token-2"
        assert fetch.calls == 2
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
