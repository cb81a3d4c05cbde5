"""``python main.py bench scale --fronts 0``: interviews through the engine on PostgreSQL
with the jobs run by Celery worker processes over RabbitMQ (``[workers] backend =
"celery"``). (Without ``--fronts 0`` the bench starts real front processes:
:mod:`bench.fronts`.)

This process is the front: it drives whole interviews (text answers) through the
engine from client threads, delivers the outbox to a null channel and runs the job
relay. The workers are ``python main.py worker`` processes, as deployed, whose models
are simulated: the evaluator sleeps ``BENCH_LLM_S`` (the latency of a model server)
before the real STAR scoring on a fake backend. Measured with 1 and 2 workers:
events/s through the engine, answers scored per second of the whole run (until every
due job, the per-candidate completion jobs included, is done), answer->score latency,
CPU per event (front) and per scored answer (workers: all their jobs), jobs and job
runs, and whether every answer was scored exactly once.
On 2 cores shared with PostgreSQL and RabbitMQ, more processes cannot add CPU: the
CPU cost per unit is the figure that shows whether the design scales.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlmodel import col, select

from app.celery_jobs import QUEUES, Relay, make_celery, publisher, queue_name
from app.wiring import App, build_app
from bench.engine import Candidate, NullMessenger, Result, _database, _percentile, _prepare
from core.clock import SystemClock
from core.settings import Settings
from dialogs.interview.pipeline import FINAL_ANSWER_STATES, Pipeline
from scoring.evaluator import Evaluator, FakeBackend, StarEvaluator
from scoring.raw_transcript import RawTranscript, Segment
from scoring.star import AnswerInput, Evaluation
from scoring.transcribe import Language, Samples
from storage.models import Answer, BackgroundJob
from storage.models import Evaluation as EvaluationRow

LLM_ENV = "BENCH_LLM_S"
ASR_ENV = "BENCH_ASR_S"
ROOT = Path(__file__).resolve().parent.parent


class SimulatedEvaluator:
    """A model server's latency, then the real STAR scoring on the fake backend."""

    def __init__(self, inner: Evaluator, latency_s: float) -> None:
        self.inner = inner
        self.latency_s = latency_s

    @property
    def model_id(self) -> str:
        return f"simulated+{self.inner.model_id}"

    def evaluate(self, item: AnswerInput) -> Evaluation:
        time.sleep(self.latency_s)
        return self.inner.evaluate(item)


class SimulatedTranscriber:
    """A GPU recogniser's latency (per second of audio), then a fixed transcript."""

    model_name = "simulated-asr"

    def __init__(self, seconds_per_audio_s: float) -> None:
        self.rate = seconds_per_audio_s

    def transcribe(
        self, samples: Samples, *, language: Language | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        duration = len(samples) / 16000
        time.sleep(duration * self.rate)
        text = "I called the client daily and they renewed the contract worth 1.2M."
        segment = Segment(
            start=0.0,
            end=duration,
            text=text,
            avg_logprob=-0.2,
            no_speech_prob=0.01,
            compression_ratio=1.3,
        )
        return RawTranscript(segments=[segment], language="en", model=self.model_name)


def build_simulated(settings: Settings) -> App:
    """``--app-factory bench.scale:build_simulated``: the workers' App."""
    evaluator = SimulatedEvaluator(
        StarEvaluator(FakeBackend()), float(os.environ.get(LLM_ENV, "0.2"))
    )
    transcriber = SimulatedTranscriber(float(os.environ.get(ASR_ENV, "0.02")))
    return build_app(
        settings, pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator)
    )


def _write_config(settings: Settings, path: Path) -> None:
    lines = [
        "[app]",
        f'data_dir = "{settings.app.data_dir}"',
        "[database]",
        f'url = "{settings.database.url}"',
        "[security]",
        f'key_file = "{settings.security.key_file}"',
        "[workers]",
        'backend = "celery"',
        f'broker_url = "{settings.workers.broker_url.get_secret_value()}"',
        f'queue_prefix = "{settings.workers.queue_prefix}"',
    ]
    path.write_text("\n".join(lines) + "\n")


def _start_workers(
    config: Path, count: int, llm_s: float, logs: Path
) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_KEY")}
    env[LLM_ENV] = str(llm_s)
    procs = []
    for i in range(count):
        with (logs / f"worker{i}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "main.py", "--config", str(config), "worker"]
                    + ["--queues", ",".join(QUEUES), "--concurrency", "1"]
                    + ["--app-factory", "bench.scale:build_simulated"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    deadline = time.monotonic() + 90
    for i in range(count):
        while b" ready." not in (logs / f"worker{i}.log").read_bytes():
            if time.monotonic() > deadline or procs[i].poll() is not None:
                tail = (logs / f"worker{i}.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"worker {i} did not start: {tail}")
            time.sleep(0.2)
    return procs


def _cpu_seconds(pgid: int, *, main: bool | None = None) -> float:
    """User+system CPU of every live process in a process group (a worker and its pool);
    ``main`` True: only the worker's main process (broker I/O), False: only its pool."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if main is not None and (int(entry.name) == pgid) != main:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ...
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _settled_cpu(procs: list[subprocess.Popen[bytes]], timeout_s: float = 30) -> float:
    """The workers' CPU once start-up is over (it no longer grows while idle)."""
    last = sum(_cpu_seconds(p.pid) for p in procs)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1)
        now = sum(_cpu_seconds(p.pid) for p in procs)
        if now - last < 0.03 * len(procs):
            return now
        last = now
    return last


class _Background:
    """The front's relay and outbox dispatcher, on threads of this process."""

    def __init__(self, app: App, relay: Relay) -> None:
        self.app = app
        self.relay = relay
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._relay, daemon=True),
            threading.Thread(target=self._dispatch, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _relay(self) -> None:
        while not self.stop.is_set():
            if self.relay.publish_once() == 0:
                time.sleep(self.app.settings.workers.relay_poll_seconds)

    def _dispatch(self) -> None:
        dispatcher = self.app.dispatcher()
        loop = asyncio.new_event_loop()
        while not self.stop.is_set():
            if loop.run_until_complete(dispatcher.run_once()) == 0:
                time.sleep(0.05)
        loop.close()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def _drive(app: App, people: list[Candidate], clients: int) -> int:
    count = 0
    lock = threading.Lock()

    def client(chunk: list[Candidate]) -> None:
        nonlocal count
        for person in chunk:
            while (event := person.next_event()) is not None:
                app.engine.handle(event)
                with lock:
                    count += 1

    threads = [threading.Thread(target=client, args=(people[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count


def _jobs_due(app: App) -> int:
    """Jobs waiting to run now, published or running (not those scheduled later)."""
    now = app.services.clock.now()
    with app.db.session() as session:
        rows = session.exec(
            select(BackgroundJob.id).where(
                (col(BackgroundJob.status).in_(["queued", "running"]))
                | ((col(BackgroundJob.status) == "pending") & (col(BackgroundJob.run_after) <= now))
            )
        ).all()
    return len(rows)


def _answers(app: App) -> tuple[int, int, list[float], int, int]:
    """(answers, final answers, answer->score seconds, scored twice, unscored)."""
    with app.db.session() as session:
        answers = session.exec(select(Answer).where(col(Answer.status) != "superseded")).all()
        totals = session.exec(
            select(EvaluationRow).where(col(EvaluationRow.dimension) == "total")
        ).all()
    by_answer: dict[int, list[EvaluationRow]] = {}
    for row in totals:
        by_answer.setdefault(row.answer_id, []).append(row)
    final = sum(1 for a in answers if a.status in FINAL_ANSWER_STATES)
    waits = [
        (rows[0].created_at - a.created_at).total_seconds()
        for a in answers
        if (rows := by_answer.get(a.id or 0))
    ]
    twice = sum(1 for rows in by_answer.values() if len(rows) > 1)
    unscored = sum(1 for a in answers if (a.id or 0) not in by_answer)
    return len(answers), final, waits, twice, unscored


def bench_workers(
    base: Settings, pg_url: str, *, workers: int, candidates: int, llm_s: float, clients: int
) -> list[Result]:
    tag = f"scale_w{workers}"
    with _database("postgres", base, pg_url) as settings:
        settings.workers.backend = "celery"
        settings.workers.queue_prefix = f"bench{uuid.uuid4().hex[:6]}."
        app = build_app(settings, clock=SystemClock())  # the front runs no job itself
        app.channels["bench"] = NullMessenger()
        people = _prepare(app, candidates)
        config = settings.app.data_dir / "worker.toml"
        _write_config(settings, config)
        celery = make_celery(settings)
        procs = _start_workers(config, workers, llm_s, settings.app.data_dir)
        background = _Background(app, Relay(app, publisher(settings, celery)))
        try:
            worker_cpu0 = _settled_cpu(procs)  # pool processes finish building their App
            main_cpu0 = sum(_cpu_seconds(p.pid, main=True) for p in procs)
            cpu0 = time.process_time()
            wall0 = time.perf_counter()
            events = _drive(app, people, clients)
            event_wall = time.perf_counter() - wall0
            front_cpu = time.process_time() - cpu0
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                total, final, *_ = _answers(app)
                if final >= total and not _jobs_due(app):
                    break
                time.sleep(0.5)
            all_wall = time.perf_counter() - wall0
            worker_cpu = sum(_cpu_seconds(p.pid) for p in procs) - worker_cpu0
            main_cpu = sum(_cpu_seconds(p.pid, main=True) for p in procs) - main_cpu0
            total, final, waits, twice, unscored = _answers(app)
            with app.db.session() as session:
                jobs = session.exec(select(BackgroundJob)).all()
            runs = sum(job.attempts for job in jobs)
            kinds = sorted({job.kind for job in jobs if job.attempts > 1})
            later = sorted({f"{job.kind}:{job.status}" for job in jobs if job.attempts == 0})
            if later:
                print(f"# {tag}: jobs not run (not due yet): {', '.join(later)}", flush=True)
            if kinds:
                print(f"# {tag}: jobs run more than once: {', '.join(kinds)}", flush=True)
        finally:
            background.close()
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            with celery.connection_for_write() as conn:
                for q in QUEUES:
                    try:
                        conn.default_channel.queue_delete(queue_name(settings, q))
                    except Exception:  # noqa: BLE001, S112 - never declared
                        continue
            app.db.engine.dispose()
    scored = max(1, final)
    return [
        (f"{tag}_events", float(events), "events"),
        (f"{tag}_events_per_s", round(events / event_wall, 1), "events/s"),
        (f"{tag}_answers_scored", float(final), "answers"),
        (f"{tag}_answers_scored_per_s", round(final / all_wall, 2), "answers/s"),
        (f"{tag}_answer_to_score_p50", round(statistics.median(waits or [0]), 2), "s"),
        (f"{tag}_answer_to_score_p99", round(_percentile(waits or [0], 0.99), 2), "s"),
        (f"{tag}_front_cpu_per_event", round(front_cpu / max(1, events) * 1000, 2), "ms"),
        (f"{tag}_worker_cpu_per_scored_answer", round(worker_cpu / scored * 1000, 1), "ms"),
        (f"{tag}_worker_main_cpu_per_scored_answer", round(main_cpu / scored * 1000, 1), "ms"),
        (f"{tag}_jobs", float(len(jobs)), "jobs"),
        (f"{tag}_job_runs", float(runs), "runs"),
        (f"{tag}_scored_twice", float(twice), "answers"),
        (f"{tag}_unscored", float(unscored), "answers"),
    ]


def run(
    settings: Settings,
    *,
    pg_url: str,
    workers: list[int],
    candidates: int = 30,
    llm_s: float = 0.2,
    clients: int = 4,
) -> list[Result]:
    results: list[Result] = []
    print(f"scale_simulated_llm_latency {llm_s} s", flush=True)
    for count in workers:
        for line in bench_workers(
            settings, pg_url, workers=count, candidates=candidates, llm_s=llm_s, clients=clients
        ):
            print(f"{line[0]} {line[1]} {line[2]}", flush=True)
            results.append(line)
    return results
