"""The callback replay store shared by every process: one record decides, across them.

Two apps on one database stand for two server processes (each has its own engine and,
on SQLite, its own writer lock); Redis is the real server on 127.0.0.1:6379 when one runs.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from app.wiring import App, build_app
from core.clock import FakeClock
from core.settings import Settings
from web.replay import DatabaseReplayStore, RedisReplayStore, ReplayStore, Seen, triple_key

WINDOW = dt.timedelta(minutes=11)


@pytest.fixture
def two_apps(settings: Settings) -> Iterator[tuple[App, App]]:
    one, two = build_app(settings, clock=FakeClock()), build_app(settings, clock=FakeClock())
    yield one, two
    one.db.engine.dispose()
    two.db.engine.dispose()


def race(record: list[Callable[[], Seen]]) -> list[Seen]:
    """Run the calls at the same moment on threads; their answers in call order."""
    start = threading.Barrier(len(record))
    answers: list[Seen | None] = [None] * len(record)

    def run(i: int) -> None:
        start.wait()
        answers[i] = record[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(record))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]


def test_two_processes_racing_on_one_triple_accept_it_once(two_apps: tuple[App, App]) -> None:
    stores = [DatabaseReplayStore(app.db) for app in two_apps]
    now = two_apps[0].services.clock.now()
    key = triple_key("wechat", "1767600000", "nonce-1", "f" * 40)
    # Eight deliveries of one signed triple, each with its own body, at once.
    answers = race(
        [partial(stores[i % 2].record, key, f"body-{i}", now + WINDOW, now) for i in range(8)]
    )
    assert answers.count(Seen.NEW) == 1
    assert answers.count(Seen.FORGED) == 7
    winner = f"body-{answers.index(Seen.NEW)}"
    assert stores[1].record(key, winner, now + WINDOW, now) is Seen.RETRY


def test_retries_racing_on_one_triple_are_all_retries_but_one(two_apps: tuple[App, App]) -> None:
    stores = [DatabaseReplayStore(app.db) for app in two_apps]
    now = two_apps[0].services.clock.now()
    key = triple_key("wecom", "1767600000", "nonce-2", "e" * 40)
    answers = race(
        [partial(stores[i % 2].record, key, "same", now + WINDOW, now) for i in range(6)]
    )
    assert sorted(a.value for a in answers) == ["new"] + ["retry"] * 5


def test_a_triple_is_remembered_for_the_window_then_forgotten(two_apps: tuple[App, App]) -> None:
    store = DatabaseReplayStore(two_apps[0].db)
    now = two_apps[0].services.clock.now()
    key = triple_key("wechat", "1767600000", "nonce-3", "d" * 40)
    assert store.record(key, "a", now + WINDOW, now) is Seen.NEW
    later = now + WINDOW - dt.timedelta(seconds=1)
    assert store.record(key, "b", later + WINDOW, later) is Seen.FORGED
    after = now + WINDOW + dt.timedelta(seconds=1)
    assert store.record(key, "b", after + WINDOW, after) is Seen.NEW


@pytest.fixture
def redis_store() -> Iterator[tuple[ReplayStore, object]]:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield RedisReplayStore(client), client
    client.close()


def test_redis_decides_once_and_forgets_with_the_window(
    redis_store: tuple[ReplayStore, object],
) -> None:
    store, client = redis_store
    now = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    key = triple_key("wechat", "1767600000", uuid.uuid4().hex, "c" * 40)
    answers = race(
        [partial(store.record, key, f"body-{i % 2}", now + WINDOW, now) for i in range(6)]
    )
    assert answers.count(Seen.NEW) == 1
    same = answers.index(Seen.NEW) % 2
    assert all(
        seen is (Seen.RETRY if i % 2 == same else Seen.FORGED)
        for i, seen in enumerate(answers)
        if seen is not Seen.NEW
    )
    ttl = int(client.ttl(key))  # type: ignore[attr-defined]
    assert WINDOW.total_seconds() - 5 < ttl <= WINDOW.total_seconds()
    client.delete(key)  # type: ignore[attr-defined]


def test_racing_on_a_triple_whose_record_expired_accepts_it_once(
    two_apps: tuple[App, App],
) -> None:
    """A record past its window (not purged yet) is replaced by one of the racers only."""
    stores = [DatabaseReplayStore(app.db) for app in two_apps]
    now = two_apps[0].services.clock.now()
    key = triple_key("wechat", "1767600000", "nonce-4", "b" * 40)
    assert stores[0].record(key, "old", now + WINDOW, now) is Seen.NEW
    after = now + WINDOW + dt.timedelta(seconds=1)
    answers = race(
        [partial(stores[i % 2].record, key, f"body-{i}", after + WINDOW, after) for i in range(8)]
    )
    assert answers.count(Seen.NEW) == 1
    assert answers.count(Seen.FORGED) == 7
