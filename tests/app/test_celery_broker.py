"""Worker processes on the real brokers of this machine, on PostgreSQL: a job the engine
enqueued runs in a ``python main.py worker`` process and its result is written once;
a worker killed mid-task has its job redelivered to another, which completes it once.

Needs PostgreSQL (``TEST_DATABASE_URL``) and RabbitMQ on 127.0.0.1:5672 (Redis on
6379 for the Redis test); skipped, saying which, when one is absent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from app.celery_jobs import QUEUES, Relay, make_celery, publisher, queue_name
from app.wiring import App
from core.settings import Settings
from storage.models import Answer, BackgroundJob, Evaluation
from tests.app.celery_factory import HOLD_ENV, build
from tests.conftest import PG_URL, ROOT, _reset_pg, make_settings
from tests.harness import Chat, RecordingMessenger
from tests.services import needs_rabbit, needs_redis

RABBIT = "amqp://guest:guest@127.0.0.1:5672//"
REDIS = "redis://127.0.0.1:6379/14"


pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL"),
]


class Cluster:
    """The test's front side (engine, relay) and the worker processes it starts."""

    def __init__(self, tmp: Path, db_url: str, broker: str) -> None:
        self.tmp = tmp
        self.prefix = f"t{uuid.uuid4().hex[:8]}."
        workers: dict[str, object] = {
            "backend": "celery",
            "broker_url": broker,
            "queue_prefix": self.prefix,
        }
        self.settings: Settings = make_settings(tmp, db_url, workers=workers)
        self.config = tmp / "config.toml"
        self.config.write_text(
            "\n".join(
                [
                    "[app]",
                    f'data_dir = "{self.settings.app.data_dir}"',
                    "[database]",
                    f'url = "{db_url}"',
                    "[security]",
                    f'key_file = "{self.settings.security.key_file}"',
                    "[ratelimit]",
                    "enabled = false",
                    "[workers]",
                    'backend = "celery"',
                    f'broker_url = "{broker}"',
                    f'queue_prefix = "{self.prefix}"',
                ]
            )
            + "\n"
        )
        self.app: App = build(self.settings)
        self.messenger = RecordingMessenger()
        self.app.channels["console"] = self.messenger
        self.celery = make_celery(self.settings)
        self.relay = Relay(self.app, publisher(self.settings, self.celery))
        self.hold = tmp / "hold"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_KEY")}
        env[HOLD_ENV] = str(self.hold)
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "main.py",
                    "--config",
                    str(self.config),
                    "worker",
                    "--queues",
                    "llm,default",
                    "--concurrency",
                    "1",
                    "--app-factory",
                    "tests.app.celery_factory:build",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg kills pool children too
            )
        self.procs.append(proc)
        return proc

    def answer_one_question(self) -> int:
        """Through the engine: a candidate answers by text, which enqueues ``evaluate``."""
        chat = Chat(self.app, self.messenger)
        chat.languages.update({"admin": "en", "hr": "en"})
        chat.create_job()
        token, code = chat.invite("Li Lei")
        chat.start_interview("u1", "Li Lei", token, code, voice=False)
        chat.send("u1", "Last year I renewed a contract worth 1.2M by calling the client daily.")
        with self.app.db.session() as session:
            answer = session.exec(select(Answer)).one()
            assert answer.id is not None
            return answer.id

    def job(self, answer_id: int) -> BackgroundJob:
        with self.app.db.session() as session:
            return session.exec(
                select(BackgroundJob).where(BackgroundJob.key == f"evaluate:{answer_id}")
            ).one()

    def wait(self, what: str, test: object, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(test) and test():
                return
            time.sleep(0.2)
        logs = "\n".join(p.read_text()[-2000:] for p in self.tmp.glob("*.log"))
        raise AssertionError(f"timed out waiting for {what}; worker logs:\n{logs}")

    def totals(self, answer_id: int) -> int:
        with self.app.db.session() as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(Evaluation)
                    .where(col(Evaluation.answer_id) == answer_id)
                    .where(col(Evaluation.dimension) == "total")
                ).one()
            )

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        with self.celery.connection_for_write() as conn:
            channel = conn.default_channel
            for q in QUEUES:
                with contextlib.suppress(Exception):  # a queue never declared
                    channel.queue_delete(queue_name(self.settings, q))
        self.app.db.engine.dispose()


@pytest.fixture
def pg_url(pg_database: str | None) -> str:
    assert pg_database is not None
    _reset_pg(pg_database)
    return pg_database


def _cluster(tmp_path: Path, pg_url: str, broker: str) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, pg_url, broker)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def rabbit(tmp_path: Path, pg_url: str) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, pg_url, RABBIT)


@pytest.fixture
def redis_cluster(tmp_path: Path, pg_url: str) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, pg_url, REDIS)


@needs_rabbit
def test_a_worker_killed_mid_task_has_its_job_redelivered_and_done_once(rabbit: Cluster) -> None:
    answer_id = rabbit.answer_one_question()
    assert rabbit.job(answer_id).status == "pending"
    rabbit.hold.write_text("hold")  # the first run stops inside the evaluator
    first = rabbit.start_worker("first")
    assert rabbit.relay.publish_once() == 1
    started = Path(str(rabbit.hold) + ".started")
    rabbit.wait("the first worker to start the job", started.exists)
    assert rabbit.job(answer_id).status == "running"

    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool, mid-task
    first.wait(10)
    rabbit.hold.unlink()
    rabbit.start_worker("second")
    rabbit.wait("the redelivered job to finish", lambda: rabbit.job(answer_id).status == "done")

    job = rabbit.job(answer_id)
    assert job.attempts == 2, "run by the killed worker, then by the second one"
    assert rabbit.totals(answer_id) == 1, "scored exactly once"
    assert rabbit.relay.publish_once() == 0


@needs_redis
def test_jobs_run_through_redis_as_broker(redis_cluster: Cluster) -> None:
    answer_id = redis_cluster.answer_one_question()
    redis_cluster.start_worker("redis")
    assert redis_cluster.relay.publish_once() == 1
    redis_cluster.wait("the job to finish", lambda: redis_cluster.job(answer_id).status == "done")
    assert redis_cluster.job(answer_id).attempts == 1
    assert redis_cluster.totals(answer_id) == 1
