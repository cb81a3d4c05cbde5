"""``bench scale`` at a tiny size with faults: two real front processes (Telegram
webhooks) and a Celery worker on PostgreSQL, RabbitMQ and Redis; a front and the
worker are SIGKILLed and the broker connections closed mid-run, and afterwards every
answer is scored exactly once and every reply reached Telegram once."""

from __future__ import annotations

import pytest

from bench.fronts import bench_topology
from core.settings import Settings
from tests.conftest import PG_URL
from tests.services import needs_rabbit, needs_redis

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL"),
    needs_rabbit,
    needs_redis,
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
