"""``python main.py bench scale --fronts 1,2,4``: several real front processes, faults.

Each topology gets a fresh PostgreSQL database and starts, as deployed, F front
processes (``python main.py run``: Telegram in webhook mode, the outbox with leased
claims, the job relay, the bot-wide send budget in Redis) and W worker processes
(``python main.py worker``, Celery over RabbitMQ in a vhost of their own, the models
simulated as in :mod:`bench.scale`). This process is the load balancer and Telegram:
the fake Bot API (:mod:`testkit.telegram_api`) receives every reply, and simulated
candidates (brought to question 1 beforehand) answer by text through the fronts'
webhooks, offered at a fixed total rate split round-robin across the live fronts (a
refused POST goes to the next front, as Telegram retries a webhook). A candidate
answers again once the bot sent its next question.

Printed per topology (``name value unit``): events/s, answers scored/s, message->reply
p50/p99, CPU-seconds per event (fronts) and per scored answer (workers) from /proc,
the CPU of PostgreSQL/RabbitMQ/Redis over the run (machine-wide: other users of those
servers count too), PostgreSQL transactions and tuples per event from
``pg_stat_database`` (a proxy for statements: pg_stat_statements is not enabled),
lock waits (``pg_locks`` sampled every 0.25 s, and deadlocks), events per front
CPU-second and, at the end, its ratio between the fewest and most fronts.

With ``faults``: SIGKILL a front mid-run (restarted at once), SIGKILL a worker's
process group mid-task (restarted) and close every broker connection of the vhost
(``rabbitmqctl close_all_connections``); then wait for quiescence and count answers
scored exactly once, replies delivered once and anything lost. A reply repeated
because its front was killed between Telegram's answer and the commit marking it sent
(the window README "Scaling out" names) is counted apart: a duplicate whose first copy
reached Telegram in the ``WINDOW_S`` before a kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlmodel import col, func, select

from app.celery_jobs import QUEUES
from bench.engine import Result, _database, _percentile
from bench.scale import ASR_ENV, LLM_ENV, _answers, _cpu_seconds
from bench.telegram import ANSWERS, Person, Replies, _prepare
from core.settings import Settings
from dialogs.interview.pipeline import FINAL_ANSWER_STATES
from storage.models import Answer, BackgroundJob, OutboxMessage

if TYPE_CHECKING:
    from testkit.telegram_api import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
# The commands after ``--config``, as deploy/compose.yaml runs them (tests/app/test_deploy.py).
FRONT_ARGS = ["run"]
WORKER_ARGS = ["worker", "--queues", ",".join(QUEUES), "--concurrency", "1"]
WORKER_FACTORY = ["--app-factory", "bench.scale:build_simulated"]
SECRET = "bench-webhook-secret"  # noqa: S105 - the fake Telegram's
WINDOW_S = 2.0
LEASE_S = 3.0
IDLE_S = 5.0
SERVERS = {"postgres": "postgres", "beam.smp": "rabbitmq", "redis-server": "redis"}

FRONT_CONFIG = """
[app]
data_dir = "{data}"
default_language = "en"
bot_username = "{username}"
log_level = "WARNING"
public_base_url = "http://127.0.0.1:{port}"

[database]
url = "{db}"

[security]
key_file = "{key}"

[telegram]
enabled = true
mode = "webhook"
rate_limiter = false  # PTB's per-process limiter; the bot's budget is shared in Redis

[web]
host = "127.0.0.1"
port = {port}
drain_grace_seconds = 0.5

[outbox]
lease_seconds = {lease}

[ratelimit]
redis_url = "{redis}"

[llm]
provider = "fake"

[workers]
backend = "celery"
broker_url = "{broker}"
queue_prefix = "{prefix}"
republish_after_seconds = {republish}
"""


# ---------------------------------------------------------------------- processes
@dataclass
class Proc:
    """A front or worker process (its own session: the pid is its process group)."""

    argv: list[str]
    log: Path
    env: dict[str, str]
    port: int = 0
    popen: subprocess.Popen[bytes] | None = None
    cpu_done: float = 0.0  # CPU of earlier incarnations (killed)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def cpu(self) -> float:
        """This process's group, the children it reaped (a recycled pool process) too."""
        if not self.alive():
            return self.cpu_done
        return self.cpu_done + _cpu_seconds(self.pid) + _reaped_cpu(self.pid)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group (a worker's pool too); its CPU so far is kept."""
        self.cpu_done += _cpu_seconds(self.pid) + _reaped_cpu(self.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        assert self.popen is not None
        self.popen.wait(30)

    def stop(self) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        assert self.popen is not None
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def _reaped_cpu(pid: int) -> float:
    """CPU-seconds of the children ``pid`` has waited for (cutime + cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


async def _front_ready(proc: Proc, http: httpx.AsyncClient, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"front exited: {proc.tail()}")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get(f"http://127.0.0.1:{proc.port}/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"front not ready: {proc.tail()}")


async def _worker_ready(proc: Proc, since: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while b" ready." not in proc.log.read_bytes()[since:]:
        if time.monotonic() > deadline or not proc.alive():
            raise RuntimeError(f"worker did not start: {proc.tail()}")
        await asyncio.sleep(0.2)


def _server_cpu() -> dict[str, float]:
    """CPU-seconds of PostgreSQL, RabbitMQ and Redis processes now alive (any owner)."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(SERVERS.values(), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.find("(") + 1 : raw.rfind(")")]
        server = SERVERS.get(name)
        if server is not None:
            fields = raw.rsplit(")", 1)[1].split()
            totals[server] += (int(fields[11]) + int(fields[12])) / ticks
    return totals


# ---------------------------------------------------------------------- broker vhost
def _rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    done = subprocess.run(  # noqa: S603 - fixed arguments
        ["rabbitmqctl", "-q", *args], capture_output=True, timeout=60, check=False
    )
    return done.returncode == 0


class Vhost:
    """A RabbitMQ vhost for one topology, so cutting its connections touches nobody else."""

    def __init__(self, base_url: str) -> None:
        self.name = f"bench_{uuid.uuid4().hex[:8]}"
        self.own = _rabbitmqctl("add_vhost", self.name) and _rabbitmqctl(
            "set_permissions", "-p", self.name, "guest", ".*", ".*", ".*"
        )
        parts = urlsplit(base_url)
        self.url = urlunsplit(parts._replace(path=f"/{self.name}")) if self.own else base_url

    def cut(self) -> bool:
        return self.own and _rabbitmqctl(
            "close_all_connections", "--vhost", self.name, "bench: broker connection cut"
        )

    def close(self) -> None:
        if self.own:
            _rabbitmqctl("delete_vhost", self.name)


# ---------------------------------------------------------------------- measuring
class DbSampler:
    """pg_stat_database counters of the bench database and pg_locks waits, sampled."""

    COUNTERS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched",
                "tup_inserted", "tup_updated", "tup_deleted", "deadlocks")  # fmt: skip

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
        self.samples = 0
        self.waiting_samples = 0
        self.max_waiting = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def counters(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = conn.execute(
                text(
                    f"SELECT {', '.join(self.COUNTERS)} FROM pg_stat_database"  # noqa: S608
                    " WHERE datname = current_database()"
                )
            ).one()
        return {name: int(value or 0) for name, value in zip(self.COUNTERS, row, strict=True)}

    def last_outbox_id(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(text("SELECT coalesce(max(id), 0) FROM outboxmessage")).one()[0]
            )

    def _sample(self) -> None:
        query = text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        )
        while not self.stop.wait(0.25):
            try:
                with self.engine.connect() as conn:
                    waiting = int(conn.execute(query).scalar_one())
            except Exception:  # noqa: BLE001, S112 - a sample missed
                continue
            self.samples += 1
            self.waiting_samples += waiting > 0
            self.max_waiting = max(self.max_waiting, waiting)

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(5)
        self.engine.dispose()


@dataclass
class Run:
    """What one topology's drive saw."""

    offered: int = 0
    accepted: int = 0
    retried: int = 0
    kills: list[float] = field(default_factory=list)  # perf_counter of each front SIGKILL
    faults: list[str] = field(default_factory=list)
    drive_s: float = 0.0
    outbox_base: int = 0  # the last outbox row of the set-up (marked sent, never sent)
    idle: dict[str, float] = field(default_factory=dict)  # per second before the drive


class Cluster:
    """One topology: its database, vhost, fronts and workers, and the drive."""

    def __init__(
        self,
        settings: Settings,
        fake: FakeBotAPI,
        folder: Path,
        *,
        fronts: int,
        workers: int,
        vhost: Vhost,
        redis_url: str,
        llm_s: float,
        republish_s: float,
    ) -> None:
        from testkit.telegram_api import free_port

        self.settings = settings
        self.fake = fake
        self.vhost = vhost
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_KEY")}
        env.update(
            TELEGRAM_TOKEN=fake.token,
            TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_BASE_FILE_URL=fake.base_file_url,
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            PYTHONUNBUFFERED="1",
        )
        env.pop("CELERY_BROKER_URL", None)
        env.pop("RATELIMIT_REDIS_URL", None)
        self.fronts: list[Proc] = []
        for i in range(fronts):
            port = free_port()
            config = folder / f"front{i}.toml"
            config.write_text(
                FRONT_CONFIG.format(
                    data=settings.app.data_dir,
                    username=fake.username,
                    port=port,
                    db=settings.database.url,
                    key=settings.security.key_file,
                    lease=LEASE_S,
                    redis=redis_url,
                    broker=vhost.url,
                    prefix=settings.workers.queue_prefix,
                    republish=republish_s,
                ),
                encoding="utf-8",
            )
            argv = [sys.executable, "main.py", "--config", str(config), *FRONT_ARGS]
            self.fronts.append(Proc(argv, folder / f"front{i}.log", env, port))
        wenv = {**env, LLM_ENV: str(llm_s), ASR_ENV: "0.02"}
        wconfig = folder / "front0.toml"  # the same file: workers read what they need
        self.workers = [
            Proc(
                [
                    sys.executable,
                    "main.py",
                    "--config",
                    str(wconfig),
                    *WORKER_ARGS,
                    *WORKER_FACTORY,
                ],
                folder / f"worker{i}.log",
                wenv,
            )
            for i in range(workers)
        ]
        self.next_front = itertools.count()
        self.quiet_limit_s = 300.0

    async def start(self, http: httpx.AsyncClient) -> None:
        for proc in [*self.workers, *self.fronts]:
            proc.start()
        for proc in self.workers:
            await _worker_ready(proc, 0)
        for proc in self.fronts:
            await _front_ready(proc, http)

    def stop(self) -> None:
        for proc in [*self.fronts, *self.workers]:
            proc.stop()

    def cpu(self) -> tuple[float, float]:
        return sum(p.cpu() for p in self.fronts), sum(p.cpu() for p in self.workers)

    async def post(self, http: httpx.AsyncClient, update: dict[str, object], run: Run) -> None:
        """POST an update to the next live front; a refusal goes to the following one."""
        for attempt in range(len(self.fronts) * 20):
            front = self.fronts[next(self.next_front) % len(self.fronts)]
            if not front.alive():
                continue
            try:
                response = await http.post(
                    f"http://127.0.0.1:{front.port}/telegram/webhook",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                if response.status_code == 200:
                    run.accepted += 1
                    return
            except httpx.TransportError:
                pass
            run.retried += 1
            if attempt >= len(self.fronts):
                await asyncio.sleep(0.1)
        raise RuntimeError("no front accepted an update")

    async def restart_front(self, http: httpx.AsyncClient, run: Run) -> None:
        front = self.fronts[0]
        run.kills.append(time.perf_counter())
        front.kill()
        run.faults.append("front SIGKILL")
        front.start()
        await _front_ready(front, http)

    async def restart_worker(self, run: Run) -> None:
        busy = 0
        for _ in range(100):  # mid-task: while a job is running (up to 5 s)
            if busy := await asyncio.to_thread(self._running_jobs):
                break
            await asyncio.sleep(0.05)
        worker = self.workers[0]
        since = worker.log.stat().st_size
        worker.kill()
        run.faults.append(f"worker SIGKILL with {busy} jobs running")
        worker.start()
        await _worker_ready(worker, since)

    def _running_jobs(self) -> int:
        engine = create_engine(self.settings.database.url)
        try:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        text("SELECT count(*) FROM backgroundjob WHERE status = 'running'")
                    ).scalar_one()
                )
        finally:
            engine.dispose()


async def _cut(cluster: Cluster, run: Run) -> None:
    cut = await asyncio.to_thread(cluster.vhost.cut)
    if cut:
        run.faults.append("broker connections closed")
    else:
        print("# rabbitmqctl close_all_connections unavailable: no broker cut", flush=True)


async def _drive(
    cluster: Cluster,
    http: httpx.AsyncClient,
    people: list[Person],
    *,
    answers_each: int,
    rate: float,
    faults: bool,
) -> tuple[Run, Replies]:
    fake = cluster.fake
    users = {p.user_id: fake.user(p.user_id, p.name) for p in people}
    replies = Replies(set(users))
    left = dict.fromkeys(users, answers_each)
    ready: list[int] = list(users)
    replies.on_turn = lambda chat: ready.append(chat) if left.get(chat, 0) > 0 else None
    fake.on_send = replies
    run = Run()
    total = answers_each * len(people)
    fault_at = {total * 3 // 10: "front", total // 2: "worker", total * 7 // 10: "broker"}
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    tick = 1.0 / rate
    due = start
    while run.offered < total:
        due += tick
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not ready:
            if time.perf_counter() - start > 60 + total / rate * 3:
                break  # replies stopped coming: counted as lost below
            continue
        user_id = ready.pop(0)
        left[user_id] -= 1
        update = await fake.send_text(users[user_id], ANSWERS[left[user_id] % len(ANSWERS)])
        fake._pending.clear()  # noqa: SLF001 - delivered by webhook, nobody polls
        replies.sent_by_user(user_id, time.perf_counter())
        run.offered += 1
        task = asyncio.create_task(cluster.post(http, update, run))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        kind = fault_at.get(run.offered) if faults else None
        if kind == "front":
            tasks.add(asyncio.create_task(cluster.restart_front(http, run)))
        elif kind == "worker":
            tasks.add(asyncio.create_task(cluster.restart_worker(run)))
        elif kind == "broker":
            tasks.add(asyncio.create_task(_cut(cluster, run)))
    if tasks:
        await asyncio.gather(*tasks)
    run.drive_s = time.perf_counter() - start
    return run, replies


def _quiet(cluster: Cluster, replies: Replies, limit_s: float) -> float:
    """Wait until every answer is scored, no job is due, the outbox is empty and no
    reply is awaited; returns the seconds waited."""
    started = time.monotonic()
    from app.wiring import build_app

    app = build_app(cluster.settings, migrate_db=False)
    try:
        while time.monotonic() - started < limit_s:
            now = app.services.clock.now()
            with app.db.session() as session:  # counts only: cheap next to the fronts' work
                unscored = session.exec(
                    select(func.count()).select_from(Answer).where(
                        col(Answer.status).not_in(FINAL_ANSWER_STATES)
                    )
                ).one()  # fmt: skip
                due = session.exec(
                    select(func.count()).select_from(BackgroundJob).where(
                        col(BackgroundJob.status).in_(["queued", "running"])
                        | ((col(BackgroundJob.status) == "pending")
                           & (col(BackgroundJob.run_after) <= now))
                    )
                ).one()  # fmt: skip
                unsent = session.exec(
                    select(func.count()).select_from(OutboxMessage).where(
                        col(OutboxMessage.status).in_(["pending", "sending"])
                    )
                ).one()  # fmt: skip
            if not unscored and not due and not unsent and not replies.unanswered():
                break
            time.sleep(1.0)
    finally:
        app.db.engine.dispose()
    return time.monotonic() - started


def _delivery(cluster: Cluster, run: Run) -> dict[str, int]:
    """Outbox rows sent vs what the fake Telegram received, duplicates and losses."""
    from app.wiring import build_app

    app = build_app(cluster.settings, migrate_db=False)
    try:
        with app.db.session() as session:
            rows = session.exec(
                select(OutboxMessage.status, func.count())
                .where(col(OutboxMessage.platform) == "telegram")
                .where(col(OutboxMessage.id) > run.outbox_base)  # not the set-up's
                .group_by(col(OutboxMessage.status))
            ).all()
    finally:
        app.db.engine.dispose()
    statuses = Counter({status: int(n) for status, n in rows})
    received = cluster.fake.sent  # a fresh fake: only this run's sends
    first: dict[tuple[int, str], float] = {}
    copies: Counter[tuple[int, str]] = Counter()
    for message in received:
        key = (message.chat_id, message.text)
        copies[key] += 1
        first.setdefault(key, message.at)
    window = twice = 0
    for key, n in copies.items():
        if n > 1:
            near_kill = any(0 <= kill - first[key] <= WINDOW_S for kill in run.kills)
            window += (n - 1) if near_kill else 0
            twice += 0 if near_kill else n - 1
    return {
        "outbox_sent": statuses["sent"],
        "outbox_unsent": statuses["pending"] + statuses["sending"],
        "outbox_failed": statuses["failed"],
        "received": len(received),
        "received_distinct": len(copies),
        "sent_twice": twice,
        "repeated_in_kill_window": window,
    }


def bench_topology(
    base: Settings,
    pg_url: str,
    *,
    fronts: int,
    workers: int,
    candidates: int,
    answers_each: int,
    rate: float,
    llm_s: float,
    faults: bool,
    broker_url: str,
    redis_url: str,
    republish_s: float = 120.0,
    quiet_limit_s: float = 300.0,
) -> list[Result]:
    """One topology; ``republish_s``: the fronts' ``[workers] republish_after_seconds``
    (a front killed between marking a job queued and publishing it leaves the job to
    this), ``quiet_limit_s``: how long to wait for quiescence after the drive."""
    tag = f"scale_f{fronts}_w{workers}"
    with _database("postgres", base, pg_url) as settings:
        settings.llm.provider = "fake"
        settings.workers.backend = "celery"
        settings.workers.queue_prefix = f"bench{uuid.uuid4().hex[:6]}."
        settings.ratelimit.redis_url = None
        vhost = Vhost(broker_url)
        settings.workers.broker_url = SecretStr(vhost.url)
        people = _prepare(settings, candidates, hr_group=False)
        folder = settings.app.data_dir / "procs"
        folder.mkdir()
        holder: list[Cluster] = []

        def make(fake: FakeBotAPI) -> Cluster:
            holder.append(
                Cluster(
                    settings,
                    fake,
                    folder,
                    fronts=fronts,
                    workers=workers,
                    vhost=vhost,
                    redis_url=redis_url,
                    llm_s=llm_s,
                    republish_s=republish_s,
                )
            )
            holder[0].quiet_limit_s = quiet_limit_s
            return holder[0]

        sampler = DbSampler(settings.database.url)
        try:
            run, replies, quiet_s, cpu, servers, stats = asyncio.run(
                _measure(make, sampler, people, answers_each, rate, faults)
            )
        except BaseException:
            for proc in [p for c in holder for p in (*c.fronts, *c.workers)]:
                print(f"# {proc.log.name}: {proc.tail()}", flush=True)
            raise
        finally:
            sampler.close()
            for made in holder:
                made.stop()
            vhost.close()
        cluster = holder[0]
        from app.wiring import build_app

        app = build_app(settings, migrate_db=False)
        try:
            total, final, waits, twice, unscored = _answers(app)
        finally:
            app.db.engine.dispose()
        delivery = _delivery(cluster, run)
    events = run.accepted
    front_cpu, worker_drive_cpu, worker_cpu = cpu
    # Never sent, failed, or recorded sent but never received by Telegram.
    lost = (
        delivery["outbox_unsent"]
        + delivery["outbox_failed"]
        + max(0, delivery["outbox_sent"] - delivery["received_distinct"])
    )
    lat = replies.latencies
    all_s = run.drive_s + quiet_s
    lines: list[Result] = [
        (f"{tag}_offered_rate", round(run.offered / run.drive_s, 1), "events/s"),
        (f"{tag}_events", float(events), "events"),
        (f"{tag}_events_per_s", round(len(lat) / run.drive_s, 1), "events/s answered"),
        (f"{tag}_answers_scored_per_s", round(final / all_s, 2), "answers/s"),
        (f"{tag}_reply_p50", round(statistics.median(lat or [0]) * 1000, 1), "ms"),
        (f"{tag}_reply_p99", round(_percentile(lat or [0], 0.99) * 1000, 1), "ms"),
        (f"{tag}_answer_to_score_p50", round(statistics.median(waits or [0]), 2), "s"),
        (f"{tag}_front_cpu_per_event", round(front_cpu / max(1, events) * 1000, 2), "ms"),
        (
            f"{tag}_worker_cpu_per_scored_answer",
            round(worker_cpu / max(1, final) * 1000, 1),
            "ms",
        ),  # fmt: skip
        (
            f"{tag}_events_per_front_cpu_s",
            round(events / max(front_cpu, 1e-6), 1),
            "events/CPU-s",
        ),  # fmt: skip
    ]
    for server, seconds in servers.items():
        lines.append(
            (f"{tag}_{server}_cpu_per_event", round(seconds / max(1, events) * 1000, 2), "ms")
        )
    shares = {"fronts": front_cpu, "workers": worker_drive_cpu, **servers}
    busiest = max(shares, key=lambda k: shares[k])
    lines.append(
        (f"{tag}_bottleneck_cpu_share", round(shares[busiest] / max(sum(shares.values()), 1e-6), 2),
         f"{busiest} (largest CPU consumer over the drive)"),
    )  # fmt: skip
    lines += [
        (f"{tag}_idle_front_cpu", round(run.idle["front_cpu"] * 1000, 1), "ms per s per front"),
        (f"{tag}_idle_xact_commit", round(run.idle["xact_commit"], 1), "/s (all fronts)"),
        (f"{tag}_idle_tup_returned", round(run.idle["tup_returned"], 1), "/s (all fronts)"),
    ]
    for name in ("xact_commit", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated"):
        lines.append((f"{tag}_{name}_per_event", round(stats[name] / max(1, events), 1), "/event"))
    lines += [
        (f"{tag}_lock_wait_samples", float(sampler.waiting_samples), f"of {sampler.samples}"),
        (f"{tag}_lock_waiters_max", float(sampler.max_waiting), "backends"),
        (f"{tag}_deadlocks", float(stats["deadlocks"]), "deadlocks"),
        (f"{tag}_answers", float(total), f"answers of {run.offered} offered"),
        (f"{tag}_answers_scored", float(final), "answers"),
        (f"{tag}_scored_twice", float(twice), "answers"),
        (f"{tag}_unscored", float(unscored), "answers"),
        (f"{tag}_lost_answers", float(run.offered - total), "answers"),
        (f"{tag}_messages_outbox_sent", float(delivery["outbox_sent"]), "messages"),
        (f"{tag}_messages_received", float(delivery["received"]), "messages by Telegram"),
        (f"{tag}_messages_received_distinct", float(delivery["received_distinct"]), "messages"),
        (f"{tag}_messages_sent_twice", float(delivery["sent_twice"]), "messages"),
        (
            f"{tag}_messages_repeated_in_kill_window",
            float(delivery["repeated_in_kill_window"]),
            "messages",
        ),  # fmt: skip
        (f"{tag}_replies_lost", float(replies.unanswered()), "answers without a reply"),
        (f"{tag}_messages_lost", float(lost), "messages"),
        (f"{tag}_faults", float(len(run.faults)), "faults injected"),
        (f"{tag}_quiescence", round(quiet_s, 1), "s"),
    ]
    if run.faults:
        print(f"# {tag} faults: {'; '.join(run.faults)}", flush=True)
    if run.retried:
        print(f"# {tag}: {run.retried} webhook POSTs retried on another front", flush=True)
    return lines


async def _measure(
    make: Callable[[FakeBotAPI], Cluster],
    sampler: DbSampler,
    people: list[Person],
    answers_each: int,
    rate: float,
    faults: bool,
) -> tuple[Run, Replies, float, tuple[float, float, float], dict[str, float], dict[str, int]]:
    from testkit.telegram_api import FakeBotAPI

    fake = FakeBotAPI()
    fake.record_calls = False
    await fake.start()
    cluster = make(fake)
    try:
        return await _measured(cluster, sampler, people, answers_each, rate, faults)
    finally:
        await fake.stop()


async def _measured(
    cluster: Cluster,
    sampler: DbSampler,
    people: list[Person],
    answers_each: int,
    rate: float,
    faults: bool,
) -> tuple[Run, Replies, float, tuple[float, float, float], dict[str, float], dict[str, int]]:
    async with httpx.AsyncClient(timeout=30) as http:
        await cluster.start(http)
        await asyncio.sleep(1.0)  # start-up CPU settles
        # Idle first: what the processes cost with nothing to do (polls, ticks).
        idle0, idle_stats0 = cluster.cpu(), await asyncio.to_thread(sampler.counters)
        await asyncio.sleep(IDLE_S)
        cpu0 = cluster.cpu()
        stats0 = await asyncio.to_thread(sampler.counters)
        servers0 = _server_cpu()
        run_idle = {
            "front_cpu": (cpu0[0] - idle0[0]) / IDLE_S / len(cluster.fronts),
            "tup_returned": (stats0["tup_returned"] - idle_stats0["tup_returned"]) / IDLE_S,
            "xact_commit": (stats0["xact_commit"] - idle_stats0["xact_commit"]) / IDLE_S,
        }
        sampler.thread.start()
        outbox_base = await asyncio.to_thread(sampler.last_outbox_id)
        run, replies = await _drive(
            cluster, http, people, answers_each=answers_each, rate=rate, faults=faults
        )
        run.outbox_base = outbox_base
        run.idle = run_idle
        stats_drive = await asyncio.to_thread(sampler.counters)
        cpu_drive = cluster.cpu()
        servers_drive = _server_cpu()
        quiet_s = await asyncio.to_thread(_quiet, cluster, replies, cluster.quiet_limit_s)
        cpu1 = cluster.cpu()
        stats1 = await asyncio.to_thread(sampler.counters)
        cluster.fake.on_send = None
    # The fronts, servers and statements over the drive (after it the fronts idle while
    # the workers catch up); the workers over the whole run.
    cpu = (cpu_drive[0] - cpu0[0], cpu_drive[1] - cpu0[1], cpu1[1] - cpu0[1])
    servers = {k: max(0.0, servers_drive[k] - servers0.get(k, 0.0)) for k in servers_drive}
    stats = {k: stats_drive[k] - stats0[k] for k in stats1}
    stats["deadlocks"] = stats1["deadlocks"] - stats0["deadlocks"]
    return run, replies, quiet_s, cpu, servers, stats


def run(
    settings: Settings,
    *,
    pg_url: str,
    fronts: list[int],
    workers: list[int],
    candidates: int = 300,
    answers_each: int = 3,
    rate: float = 20.0,
    llm_s: float = 0.05,
    faults: bool = False,
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//",
    redis_url: str = "redis://127.0.0.1:6379/13",
) -> list[Result]:
    """Every combination of front and worker counts; prints and returns the lines."""
    results: list[Result] = []
    print(f"scale_simulated_llm_latency {llm_s} s", flush=True)
    print(f"scale_offered_rate {rate} events/s", flush=True)
    per_cpu: dict[int, float] = {}
    for front_count in fronts:
        for worker_count in workers:
            lines = bench_topology(
                settings, pg_url,
                fronts=front_count, workers=worker_count, candidates=candidates,
                answers_each=answers_each, rate=rate, llm_s=llm_s, faults=faults,
                broker_url=broker_url, redis_url=redis_url,
            )  # fmt: skip
            for line in lines:
                print(f"{line[0]} {line[1]} {line[2]}", flush=True)
                if line[0].endswith("_events_per_front_cpu_s"):
                    per_cpu.setdefault(front_count, line[1])
            results += lines
    if len(per_cpu) > 1:
        low, high = min(per_cpu), max(per_cpu)
        ratio = round(per_cpu[high] / max(per_cpu[low], 1e-6), 2)
        line = (f"scale_events_per_front_cpu_s_ratio_f{high}_vs_f{low}", ratio, "x (goal 0.8-1.2)")
        print(f"{line[0]} {line[1]} {line[2]}", flush=True)
        results.append(line)
    return results
