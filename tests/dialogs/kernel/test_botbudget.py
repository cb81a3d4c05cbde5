"""The bot-wide send budget shared through Redis (real Redis on 127.0.0.1:6379, DB 13)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.wiring import App
from core.clock import FakeClock
from dialogs.kernel.botbudget import LocalBotBudget, RedisBotBudget, bot_ids
from dialogs.kernel.intents import Send
from dialogs.kernel.outbox import write_intents
from tests.conftest import make_settings

URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; only its keys are deleted afterwards."""
    client = redis.Redis.from_url(URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    name = f"test:botbudget:{uuid.uuid4().hex}:"
    yield name
    keys = list(client.scan_iter(match=f"{name}*"))
    if keys:
        client.delete(*keys)
    client.close()


def budget(prefix: str, rate: float, *, share: float = 0.5, url: str = URL) -> RedisBotBudget:
    """One process's view: its own client, as a separate process would have."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return RedisBotBudget(
        client,
        {"telegram": rate},
        {"telegram": "123456"},
        group_share=share,
        fallback=LocalBotBudget({"telegram": rate}, FakeClock()),
        prefix=prefix,
    )


def test_two_processes_together_stay_within_one_budget(prefix: str) -> None:
    rate = 40.0
    grants: list[tuple[float, int]] = []
    lock = threading.Lock()
    start = time.monotonic()

    def sender(limiter: RedisBotBudget) -> None:
        while time.monotonic() - start < 1.6:
            direct, posts = limiter.grant("telegram", 3, 2)
            with lock:
                grants.append((time.monotonic() - start, direct + posts))
            time.sleep(0.001)

    threads = [threading.Thread(target=sender, args=(budget(prefix, rate),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    elapsed = max(t for t, _ in grants)
    total = sum(n for _, n in grants)
    # A bucket of `rate` tokens refilled at `rate` a second: never more than that in all,
    # and at most burst + rate in any one-second window.
    assert total <= rate + rate * elapsed + 1
    for t0, _ in grants:
        assert sum(n for t, n in grants if t0 <= t < t0 + 1.0) <= 2 * rate + 1
    assert total >= rate * elapsed * 0.7  # and the budget is used, not starved


def test_hr_group_posts_leave_the_replies_share(prefix: str) -> None:
    limiter = budget(prefix, 10.0, share=0.5)
    assert limiter.grant("telegram", 0, 100) == (0, 5)  # posts stop at half the bucket
    assert limiter.grant("telegram", 100, 100) == (5, 0)  # replies take the rest first
    assert limiter.grant("wechat", 7, 9) == (7, 9)  # no budget for that platform
    assert limiter.key("telegram") == f"{prefix}telegram:123456"


def test_unreachable_redis_falls_back_to_the_local_budget_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = budget("test:unreachable:", 3.0, url="redis://127.0.0.1:1/13")
    with caplog.at_level(logging.WARNING, logger="dialogs.kernel.botbudget"):
        grants = [limiter.grant("telegram", 1, 5) for _ in range(3)]
    assert grants[0] == (1, 2)  # the local bucket: replies go, posts within what is left
    assert limiter.fallbacks == 3
    assert len([r for r in caplog.records if "Redis unreachable" in r.message]) == 1


def test_bucket_names_hold_no_secret(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        telegram={"enabled": True, "token": "987654:SECRET-part"},
    )
    assert bot_ids(settings)["telegram"] == "987654"


# The claim path is the same on both databases: SQLite only.
@pytest.mark.postgres_subset.with_args(lambda params: False)
def test_the_dispatcher_claims_no_more_than_the_shared_budget(app: App, prefix: str) -> None:
    app.settings.groups.bot_per_second = {"console": 4.0}
    with app.db.transaction() as session:
        write_intents(
            session,
            [Send(platform="console", chat_id=f"c{n}", text="hi") for n in range(10)],
            source_event="test",
            now=app.services.clock.now(),
        )
    first, second = app.dispatcher(), app.dispatcher()
    for dispatcher in (first, second):
        shared = budget(prefix, 4.0)
        shared.rates = {"console": 4.0}
        dispatcher.budget = shared
    sent = asyncio.run(first.run_once()) + asyncio.run(second.run_once())
    assert sent == 4  # replies included: the bucket is the bot's, not each process's
