"""Background jobs run by Celery worker processes (``[workers] backend = "celery"``).

The job table stays the source of truth (:mod:`storage.queue_relay`): front processes
(``python main.py run``) run a :class:`Relay` that publishes committed jobs, by id, to
the queue of their kind (:data:`ROUTES`); worker processes (``python main.py worker
--queues asr,llm`` or ``celery -A app.celery_main worker -Q asr,llm``) run them with
the same handlers, :class:`~dialogs.kernel.worker.JobContext` and ``claim_result``
guarantees as the in-process queue.

Delivery: late acknowledgement (``acks_late``) and ``reject_on_worker_lost``, so a
message whose worker dies is delivered again; :func:`storage.queue_relay.start` lets a
redelivered message take over the job and a duplicate one do nothing. A handler's
failure is recorded in the table and retried with backoff by the relay (``pending``
with ``run_after``), exhausted jobs are ``failed`` (``python main.py jobs failed``);
the database being unreachable is retried by Celery itself, with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module

from celery import Celery, Task
from kombu.entity import Exchange, Queue
from sqlalchemy.exc import OperationalError

from app.host import App
from core.clock import Clock
from core.settings import Settings
from storage import queue_relay

log = logging.getLogger(__name__)

TASK_NAME = "interviewer.run_job"
QUEUES = ("asr", "llm", "render", "code", "default")
# Job kind -> queue. GPU machines consume ``asr`` and ``llm`` only; a kind not listed
# goes to ``default`` (tests/app/test_celery_jobs.py checks every handled kind is listed).
ROUTES: dict[str, str] = {
    "transcribe": "asr",
    "evaluate": "llm",
    "interview_completed": "llm",
    "finalize": "llm",
    "rank": "llm",
    "code": "code",
    "stats_chart": "render",
    "ranking_chart": "render",
    "human_report": "render",
    "data_export": "render",
    "schedule.invite_sheet": "render",
    "schedule.mail_invite": "default",
    "schedule.import_candidates": "default",
    "wechat_invite_qr": "default",
}
DEFAULT_FACTORY = "app.wiring:build_app"
# The deployment's worker pools and the queues each consumes: GPU machines take the
# model work, CPU machines the rest. deploy/compose.yaml and the systemd units start
# these; ``bench scale`` starts workers that take every pool's queues at once
# (tests/app/test_deploy.py keeps them in step).
POOLS: dict[str, tuple[str, ...]] = {
    "gpu": ("asr", "llm"),
    "cpu": ("render", "code", "default"),
}

AppFactory = Callable[[Settings], App]


def queue_for(kind: str) -> str:
    return ROUTES.get(kind, "default")


def queue_name(settings: Settings, queue: str) -> str:
    return f"{settings.workers.queue_prefix}{queue}"


def load_factory(path: str) -> AppFactory:
    """``module:function`` building the App of a worker process (tests and the scale
    bench pass one with simulated models)."""
    module, _, name = path.partition(":")
    factory: AppFactory = getattr(import_module(module), name or "build_app")
    return factory


@dataclass
class _Process:
    """What the task needs in this worker process; the App is built on the first task
    (after the pool forked, so no database connection crosses a fork)."""

    settings: Settings | None = None
    factory: AppFactory | None = None
    app: App | None = None
    name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    def get(self) -> App:
        if self.app is None:
            if self.settings is None or self.factory is None:
                raise RuntimeError("celery worker started without settings (app.celery_jobs)")
            self.app = self.factory(self.settings)
            self.name = f"{socket.gethostname()}-{os.getpid()}"
        return self.app


PROCESS = _Process()


def run_job(task: Task, job_id: int) -> str:
    """The one Celery task: run job ``job_id`` from the table; returns what happened."""
    app = PROCESS.get()
    delivery = getattr(task.request, "delivery_info", None) or {}
    job = queue_relay.start(
        app.db,
        int(job_id),
        worker=PROCESS.name,
        clock=app.services.clock,
        redelivered=bool(delivery.get("redelivered")),
        stale_after_s=app.settings.workers.stale_after_seconds,
    )
    if job is None:
        return "skipped"
    return app.worker().execute(job)


def make_celery(settings: Settings, *, factory: AppFactory | None = None) -> Celery:
    """The Celery app for ``settings``: queues, routing, delivery guarantees, the task.

    ``factory`` (default :func:`app.wiring.build_app`) builds the App in each worker
    process; a publisher (the relay) never calls it.
    """
    if factory is None:
        factory = load_factory(DEFAULT_FACTORY)
    PROCESS.settings, PROCESS.factory = settings, factory
    broker = settings.workers.broker_url.get_secret_value()
    celery = Celery("interviewer", broker=broker, set_as_current=False)
    names = {q: queue_name(settings, q) for q in QUEUES}
    exchange = Exchange(queue_name(settings, "jobs"), type="direct")  # type: ignore[no-untyped-call]
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # long tasks: one at a time per process
        task_ignore_result=True,  # results go to the database
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=names["default"],
        task_default_exchange=exchange.name,
        task_queues=[Queue(name, exchange, routing_key=name) for name in names.values()],  # type: ignore[no-untyped-call]
        task_create_missing_queues=False,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_max_tasks_per_child=1000,
        # Redis: a task running longer than this is delivered again (start() decides).
        broker_transport_options={"visibility_timeout": settings.workers.stale_after_seconds},
    )
    celery.task(
        name=TASK_NAME,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(OperationalError,),  # the database is away: retry, backing off
        retry_backoff=2,
        retry_backoff_max=300,
        retry_jitter=True,
        max_retries=10,
    )(run_job)
    return celery


def publisher(settings: Settings, celery: Celery) -> Callable[[int, str], None]:
    """Publish one job id to its kind's queue (broker errors raise)."""

    def publish(job_id: int, kind: str) -> None:
        name = queue_name(settings, queue_for(kind))
        celery.send_task(TASK_NAME, args=[job_id], queue=name, routing_key=name, retry=True)

    return publish


class Relay:
    """Publishes committed, due jobs to the broker (front processes run one each)."""

    def __init__(
        self, app: App, publish: Callable[[int, str], None], *, clock: Clock | None = None
    ) -> None:
        self.app = app
        self.publish = publish
        self.clock = clock or app.services.clock

    def publish_once(self) -> int:
        """One pass; how many jobs were published."""
        workers = self.app.settings.workers
        taken = queue_relay.take_for_publish(
            self.app.db, clock=self.clock, republish_after_s=workers.republish_after_seconds
        )
        sent = 0
        try:
            for job_id, kind in taken:
                self.publish(job_id, kind)
                sent += 1
        finally:
            # Whatever was not published goes back to pending for the next pass.
            queue_relay.unpublish(self.app.db, [job_id for job_id, _ in taken[sent:]])
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        poll = self.app.settings.workers.relay_poll_seconds
        while not stop.is_set():
            try:
                sent = await asyncio.to_thread(self.publish_once)
            except Exception as exc:  # noqa: BLE001 - the broker comes back; keep relaying
                log.warning("job relay: publishing failed (%s); retrying", type(exc).__name__)
                sent = 0
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll)


def relay_for(app: App) -> Relay:
    celery = make_celery(app.settings)
    return Relay(app, publisher(app.settings, celery))


def worker_argv(settings: Settings, queues: list[str], *, concurrency: int, name: str) -> list[str]:
    """The ``celery worker`` arguments for ``python main.py worker``."""
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    names = ",".join(queue_name(settings, q) for q in queues)
    return [
        "worker",
        f"--queues={names}",
        f"--concurrency={concurrency}",
        f"--hostname={name}@%h",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]


def warm_up(**_: object) -> None:
    """``worker_process_init``: build the App (open the database, load what the
    handlers load eagerly) when a pool process starts, not in its first job."""
    PROCESS.get()


def connect_warm_up() -> None:
    from celery.signals import worker_process_init

    worker_process_init.connect(warm_up, weak=False)


def run_worker(
    settings: Settings, queues: list[str], *, concurrency: int, factory: AppFactory | None = None
) -> None:
    """Run a Celery worker in this process until SIGTERM (warm shutdown) or SIGINT."""
    celery = make_celery(settings, factory=factory)
    connect_warm_up()
    # The node name must be unique per process on a machine (remote control queues).
    name = f"{'-'.join(queues)}.{os.getpid()}"
    argv = worker_argv(settings, queues, concurrency=concurrency, name=name)
    celery.worker_main(argv)
