"""``python main.py bench engine``: whole interviews (text answers) through engine and outbox.

Open loop: every candidate answers on average every ``think_s`` seconds (exponential
gaps), so 1,000 candidates give about 100 events/s; latency is from the moment an
event is due to the moment its intents are committed (queueing included). A
dispatcher drains the outbox to a null channel at the same time. Then closed loop:
``clients`` threads send back-to-back to find the saturation throughput.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.wiring import App, build_app
from core.clock import SystemClock
from core.settings import Settings
from dialogs.invitations.invites import invite_candidate
from dialogs.jobs.newjob import create_job
from dialogs.kernel.events import ButtonPressed, CommandReceived, Event, TextReceived
from dialogs.kernel.intents import Intent
from storage.models import Job, Question

Result = tuple[str, float, str]


class NullMessenger:
    platform = "bench"

    def __init__(self) -> None:
        self.count = 0

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        self.count += 1
        return str(self.count)


@dataclass
class Candidate:
    user: str
    name: str
    token: str
    code: str
    step: int = 0

    def next_event(self) -> Event | None:
        base = {
            "event_id": f"bench:{uuid.uuid4().hex}",
            "platform": "bench",
            "chat_id": self.user,
            "user_id": self.user,
            "language_hint": "en",
        }
        script: list[Event] = [
            CommandReceived(**base, command="start", args=self.token),
            ButtonPressed(**base, data="lang:en"),
            ButtonPressed(**base, data="consent:yes"),
            ButtonPressed(**base, data="sens:no"),
            TextReceived(**base, text=f"{self.name} {self.code}"),
            ButtonPressed(**base, data="practice:skip"),
            TextReceived(
                **base,
                text="Last year I renewed a contract worth 1.2M by calling the client daily and fixing delivery.",
            ),
            TextReceived(
                **base,
                text="I explained the migration risks with three diagrams; the budget was approved that week.",
            ),
            TextReceived(
                **base,
                text="Returns rose to 8%; I changed the packaging and they fell to 3% in a month.",
            ),
            ButtonPressed(**base, data="submit"),
        ]
        if self.step >= len(script):
            return None
        event = script[self.step]
        self.step += 1
        return event


def _prepare(app: App, count: int) -> list[Candidate]:
    from dialogs.kernel.context import Ctx

    with app.db.transaction() as session:
        keys = ["customer_focus-01", "communication-01", "problem_solving-01"]
        questions = [
            session.exec(__import__("sqlmodel").select(Question).where(Question.key == k)).one()
            for k in keys
        ]
        event = CommandReceived(
            event_id="bench:setup",
            platform="bench",
            chat_id="admin",
            user_id="admin",
            command="newjob",
        )
        ctx = Ctx(session=session, event=event, services=app.services)
        job: Job = create_job(
            ctx,
            code=f"bench-{uuid.uuid4().hex[:6]}",
            title_zh="基准",
            title_en="Bench",
            competencies=[
                {"name": "customer_focus", "weight": 40},
                {"name": "communication", "weight": 30},
                {"name": "problem_solving", "weight": 30},
            ],
            pass_line=70,
            questions=questions,
        )
        job.practice_question = True
        people = []
        for i in range(count):
            new = invite_candidate(
                session, app.settings, job, name=f"Cand {i}", now=app.services.clock.now()
            )
            people.append(Candidate(user=f"u{i}", name=f"Cand {i}", token=new.token, code=new.code))
    return people


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _open_loop(
    app: App, people: list[Candidate], think_s: float, threads: int
) -> tuple[list[float], float, float]:
    latencies: list[float] = []
    done_at: list[float] = []
    lock = threading.Lock()
    rng = random.Random(7)  # noqa: S311 - load pattern, not security
    pool = ThreadPoolExecutor(max_workers=threads)
    stop = threading.Event()
    messenger = NullMessenger()
    app.channels["bench"] = messenger

    def dispatcher_loop() -> None:
        dispatcher = app.dispatcher()
        loop = asyncio.new_event_loop()
        while not stop.is_set():
            if loop.run_until_complete(dispatcher.run_once()) == 0:
                time.sleep(0.05)
        loop.run_until_complete(dispatcher.drain())
        loop.close()

    drainer = threading.Thread(target=dispatcher_loop, daemon=True)
    drainer.start()
    start = time.perf_counter()
    # (due time, candidate index) in a heap-like sorted schedule.
    import heapq

    schedule = [(start + rng.uniform(0, think_s), i) for i in range(len(people))]
    heapq.heapify(schedule)
    pending = 0
    done_cv = threading.Condition()

    def run(idx: int, due: float) -> None:
        nonlocal pending
        event = people[idx].next_event()
        if event is not None:
            app.engine.handle(event)
            elapsed = time.perf_counter() - due
            with lock:
                latencies.append(elapsed)
                done_at.append(time.perf_counter())
                if people[idx].step < 10:
                    heapq.heappush(
                        schedule, (time.perf_counter() + rng.expovariate(1 / think_s), idx)
                    )
        with done_cv:
            pending -= 1
            done_cv.notify()

    while True:
        with lock:
            item = heapq.heappop(schedule) if schedule else None
        if item is None:
            with done_cv:
                if pending == 0:
                    with lock:
                        if not schedule:
                            break
                    continue
                done_cv.wait(timeout=0.05)
            continue
        due, idx = item
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with done_cv:
            pending += 1
        pool.submit(run, idx, due)
    elapsed = time.perf_counter() - start
    pool.shutdown(wait=True)
    stop.set()
    drainer.join()
    # The arrival rate is highest while every candidate is mid-interview: report the
    # busiest 10-second window as well as the mean over the whole run (with its tail).
    bins: dict[int, int] = {}
    for t in done_at:
        bins[int((t - start) // 10)] = bins.get(int((t - start) // 10), 0) + 1
    peak = max(bins.values()) / 10 if bins else 0.0
    return latencies, len(latencies) / elapsed, peak


def _closed_loop(app: App, people: list[Candidate], clients: int) -> float:
    counter = 0
    lock = threading.Lock()

    def client(chunk: list[Candidate]) -> None:
        nonlocal counter
        for person in chunk:
            while (event := person.next_event()) is not None:
                app.engine.handle(event)
                with lock:
                    counter += 1

    chunks = [people[i::clients] for i in range(clients)]
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counter / (time.perf_counter() - start)


@contextmanager
def _database(kind: str, base: Settings, pg_url: str | None) -> Iterator[Settings]:
    folder = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    settings = base.model_copy(deep=True)
    settings.app.data_dir = folder
    settings.security.key_file = folder / "keys" / "data.key"
    settings.security.data_key = None
    name = None
    admin = None
    if kind == "sqlite":
        settings.database.url = f"sqlite:///{folder / 'bench.sqlite3'}"
    else:
        assert pg_url
        admin_url = make_url(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
        name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        settings.database.url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        yield settings
    finally:
        if admin is not None and name is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def bench_one(
    kind: str,
    base: Settings,
    pg_url: str | None,
    *,
    candidates: int,
    think_s: float,
    threads: int,
    clients: int,
) -> list[Result]:
    results: list[Result] = []
    with _database(kind, base, pg_url) as settings:
        app = build_app(settings, clock=SystemClock())
        people = _prepare(app, candidates)
        latencies, rate, peak = _open_loop(app, people, think_s, threads)
        results += [
            (f"engine_{kind}_open_loop_mean_rate", round(rate, 1), "events/s"),
            (f"engine_{kind}_open_loop_peak_10s_rate", round(peak, 1), "events/s"),
            (f"engine_{kind}_p50_latency", round(statistics.median(latencies) * 1000, 2), "ms"),
            (f"engine_{kind}_p99_latency", round(_percentile(latencies, 0.99) * 1000, 2), "ms"),
            (f"engine_{kind}_events", float(len(latencies)), "events"),
        ]
        fresh = _prepare(app, max(200, candidates // 2))
        results.append(
            (f"engine_{kind}_saturation", round(_closed_loop(app, fresh, clients), 1), "events/s")
        )
        app.db.engine.dispose()
    return results


def run(
    settings: Settings,
    *,
    databases: list[str],
    pg_url: str | None,
    candidates: int = 1000,
    think_s: float = 10.0,
    threads: int = 4,
    clients: int = 4,
) -> list[Result]:
    results: list[Result] = []
    for kind in databases:
        for line in bench_one(
            kind,
            settings,
            pg_url,
            candidates=candidates,
            think_s=think_s,
            threads=threads,
            clients=clients,
        ):
            print(f"{line[0]} {line[1]} {line[2]}", flush=True)
            results.append(line)
    return results
