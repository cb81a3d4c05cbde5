"""``bench scale`` at a tiny size with faults: two real front processes (Telegram
webhooks) and a Celery worker on PostgreSQL, RabbitMQ and Redis; a front and the
worker are SIGKILLed and the broker connections closed mid-run, and afterwards every
answer is scored exactly once and every reply reached Telegram once."""

from __future__ import annotations

import socket

import pytest

from bench.fronts import bench_topology
from core.settings import Settings
from tests.conftest import PG_URL


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL"),
    pytest.mark.skipif(not _listening(5672), reason="needs RabbitMQ on 127.0.0.1:5672"),
    pytest.mark.skipif(not _listening(6379), reason="needs Redis on 127.0.0.1:6379"),
]


def test_two_fronts_one_worker_with_faults_score_and_reply_exactly_once() -> None:
    assert PG_URL
    lines = bench_topology(
        Settings(),
        PG_URL,
        fronts=2,
        workers=1,
        candidates=10,
        answers_each=2,
        rate=5.0,
        llm_s=0.05,
        faults=True,
        broker_url="amqp://guest:guest@127.0.0.1:5672//",
        redis_url="redis://127.0.0.1:6379/13",
        republish_s=5.0,  # a front killed between marking a job queued and publishing it
        quiet_limit_s=60.0,
    )
    values = {name.removeprefix("scale_f2_w1_"): value for name, value, _ in lines}
    assert values["faults"] >= 2  # a front and a worker killed (+ the broker cut)
    assert values["answers"] == values["events"] == 20
    assert values["answers_scored"] == 20
    assert values["scored_twice"] == values["unscored"] == values["lost_answers"] == 0
    assert values["replies_lost"] == values["messages_lost"] == 0
    assert values["messages_sent_twice"] == 0
    assert (
        values["messages_received"]
        == values["messages_received_distinct"] + (values["messages_repeated_in_kill_window"])
    )
    assert values["messages_received_distinct"] >= 20  # a reply to every answer at least
    assert values["reply_p50"] > 0 and values["front_cpu_per_event"] > 0
