"""``python main.py bench telegram``: the Telegram channel under load, end to end.

1,000 simulated candidates are mid-interview at once. They talk to a real bot process
(the runner, the PTB Application with its rate limiter, SQLite) through the fake Bot
API on 127.0.0.1 (:mod:`testkit.telegram_api`).
Open loop: each candidate answers (text) after exponential gaps of ``think_s`` seconds
on average, for ``duration_s``; latency is from the candidate's message reaching the
fake server to the bot's first reply reaching it. Every answer gets two messages
("Answer n received" and the next question), so the issue's load (1,000 candidates,
one answer a minute each, ~17 answers/s) needs ~33 messages/s, above the 30/s the
rate limiter allows: a second phase measures a load whose replies fit (``within_think_s``).
Then, with the rate limiter off, a closed loop (each of ``clients`` candidates answers
as soon as it got the next question) finds the saturation rate.

The job's HR group is bound in every phase, so the candidates' reply latency is measured
with the group's posts (budgeted by the group scheduler) going out alongside. The group
itself at campus scale (posts per minute, event-to-post lag, folding) is measured over
20 simulated minutes by :mod:`bench.hrgroup` at the end.

Only the scoring models are replaced (the fake LLM backend): they would otherwise take
the CPU this measures. The candidates are brought to their first question through the
engine directly before the bot starts (their set-up messages are marked sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import col, select

from app.wiring import build_app
from core.errors import ModelNotInstalledError
from core.settings import Settings, load_settings
from dialogs.kernel.events import ButtonPressed, CommandReceived, Event, TextReceived
from storage.models import GroupBinding, Job, OutboxMessage, Question

if TYPE_CHECKING:
    from testkit.telegram_api import FakeBotAPI, Sent

Result = tuple[str, float, str]
ROOT = Path(__file__).resolve().parent.parent
HR_GROUP = -100200300  # the job's HR group (bound before the bot starts)
QUESTIONS = 40  # more than anyone answers in the run, so everyone stays "answering"
ANSWERS = [
    "Last year a key customer was about to leave; I called them daily, fixed delivery and they renewed.",
    "I explained the migration risks with three diagrams and the budget was approved that week.",
    "Returns rose to 8 percent; I changed the packaging and they fell to 3 percent within a month.",
    "Two colleagues disagreed on the plan; I set up a meeting, we compared data and agreed in an hour.",
]

CONFIG = """
[app]
data_dir = "{data}"
default_language = "en"
bot_username = "{username}"
log_level = "WARNING"

[security]
key_file = "{data}/keys/data.key"

[database]
url = "sqlite:///{data}/bench.sqlite3"

[telegram]
enabled = true
rate_limiter = {limiter}

[web]
port = {port}

[outbox]
poll_seconds = 0.2

[workers]
count = 1
"""


@dataclass
class Person:
    user_id: int
    name: str
    token: str
    code: str


# ---------------------------------------------------------------------- set-up
def _prepare(settings: Settings, count: int, *, hr_group: bool = True) -> list[Person]:
    """A job with many questions; ``count`` candidates brought to question 1 via the engine."""
    from dialogs.invitations.invites import invite_candidate
    from dialogs.jobs.newjob import create_job
    from dialogs.kernel.context import Ctx

    app = build_app(settings, pipeline=_pipeline())
    people: list[Person] = []
    with app.db.transaction() as session:
        questions = list(
            session.exec(select(Question).order_by(col(Question.id)).limit(QUESTIONS)).all()
        )
        event = CommandReceived(
            event_id="bench:setup", platform="telegram", chat_id="1", user_id="1", command="newjob"
        )
        ctx = Ctx(session=session, event=event, services=app.services)
        competencies = sorted({q.competency for q in questions})
        weights = [100 // len(competencies)] * len(competencies)
        weights[0] += 100 - sum(weights)
        job: Job = create_job(
            ctx,
            code=f"bench-{uuid.uuid4().hex[:6]}",
            title_zh="基准",
            title_en="Bench",
            competencies=[
                {"name": c, "weight": w} for c, w in zip(competencies, weights, strict=True)
            ],
            pass_line=70,
            questions=questions,
        )
        job.practice_question = False
        session.add(job)
        if hr_group:
            session.add(
                GroupBinding(
                    platform="telegram", chat_id=str(HR_GROUP), job_id=job.id or 0, language="en"
                )
            )
        for i in range(count):
            new = invite_candidate(
                session, settings, job, name=f"Cand {i}", now=app.services.clock.now()
            )
            people.append(Person(1_000_000 + i, f"Cand {i}", new.token, new.code))
    for person in people:
        for step in _opening(person):
            app.engine.handle(step)
    with app.db.transaction() as session:  # the set-up chat happened "before": not re-sent
        session.execute(update(OutboxMessage).values(status="sent"))
    app.db.engine.dispose()
    return people


def _opening(person: Person) -> list[Event]:
    def base() -> dict[str, Any]:
        uid = str(person.user_id)
        return {
            "event_id": f"bench:{uuid.uuid4().hex}",
            "platform": "telegram",
            "chat_id": uid,
            "user_id": uid,
            "language_hint": "en",
        }

    return [
        CommandReceived(**base(), command="start", args=person.token),
        ButtonPressed(**base(), data="lang:en"),
        ButtonPressed(**base(), data="consent:yes"),
        ButtonPressed(**base(), data="sens:no"),
        TextReceived(**base(), text=f"{person.name} {person.code}"),
    ]


def _pipeline() -> Any:
    from dialogs.interview.pipeline import Pipeline
    from scoring.evaluator import FakeBackend, StarEvaluator

    evaluator = StarEvaluator(FakeBackend())

    def no_speech() -> Any:
        raise ModelNotInstalledError("the Telegram benchmark sends text answers only")

    return Pipeline(transcriber=no_speech, evaluator=lambda: evaluator)


def serve(config: str) -> int:
    """The bot process of the benchmark: the real runner, fake scoring models."""
    from app.runner import run
    from core.logging import setup_logging

    settings = load_settings(config)
    setup_logging(settings.app.log_level)
    return asyncio.run(run(settings, build=lambda s: build_app(s, pipeline=_pipeline())))


# ---------------------------------------------------------------------- measuring
class Replies:
    """Matches each candidate message with the bot's first reply to that chat.

    An answer gets one message: "Answer n received" with the next question in it (older
    builds sent the question separately). The first message after an answer is its reply;
    a message with the next question completes the turn (``on_turn``).
    """

    def __init__(self, users: set[int]) -> None:
        self.users = users
        self.waiting: dict[int, deque[float]] = {}
        self.latencies: list[float] = []
        self.at: list[float] = []
        self.messages = 0
        self.turns = 0
        self.on_turn: Callable[[int], None] | None = None

    def sent_by_user(self, chat_id: int, at: float) -> None:
        self.waiting.setdefault(chat_id, deque()).append(at)

    def __call__(self, message: Sent) -> None:
        if message.chat_id not in self.users:
            return  # a late reply from an earlier phase
        self.messages += 1
        if "Question " in message.text:  # the next question (alone, or after the receipt)
            self.turns += 1
            if self.on_turn is not None:
                self.on_turn(message.chat_id)
        if message.text.startswith("Question "):
            return  # a question alone is not the reply to an answer
        queue = self.waiting.get(message.chat_id)
        if queue:
            self.latencies.append(message.at - queue.popleft())
            self.at.append(message.at)

    def unanswered(self) -> int:
        return sum(len(q) for q in self.waiting.values())


class BotProcess:
    def __init__(self, fake: FakeBotAPI, folder: Path, *, limiter: bool) -> None:
        from testkit.telegram_api import free_port

        self.fake = fake
        self.config = folder / f"config-{'on' if limiter else 'off'}.toml"
        self.config.write_text(
            CONFIG.format(
                data=folder / "data",
                username=fake.username,
                limiter=str(limiter).lower(),
                port=free_port(),
            ),
            encoding="utf-8",
        )
        self.env = {
            **os.environ,
            "TELEGRAM_TOKEN": fake.token,
            "TELEGRAM_BASE_URL": fake.base_url,
            "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        }
        self.log = folder / f"bot-{'on' if limiter else 'off'}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            profile = os.environ.get("BENCH_PROFILE")  # a path: profile the bot process
            prefix = ["-m", "cProfile", "-o", f"{profile}.{self.config.stem}"] if profile else []
            return subprocess.Popen(
                [sys.executable, *prefix, "-m", "bench.telegram", "serve", str(self.config)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def __aenter__(self) -> BotProcess:
        polls = self.fake.polls
        self.proc = proc = await asyncio.to_thread(self._spawn)
        await self.fake.wait_for(
            lambda: self.fake.polls > polls or proc.poll() is not None, timeout=120, what="the bot"
        )
        if proc.poll() is not None:
            raise RuntimeError(f"the bot process exited: {self.log.read_text()[-2000:]}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        await asyncio.to_thread(self.proc.wait, 60)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _open_loop(
    fake: FakeBotAPI, people: list[Person], think_s: float, duration_s: float
) -> tuple[Replies, int, float]:
    users = {p.user_id: fake.user(p.user_id, p.name) for p in people}
    replies = Replies(set(users))
    fake.on_send = replies
    rng = random.Random(5)  # noqa: S311 - a load pattern
    start = time.perf_counter()
    # Poisson arrivals from the start: every gap (the first one too) is exponential.
    schedule = [(start + rng.expovariate(1 / think_s), p.user_id) for p in people]
    heapq.heapify(schedule)
    sent = 0
    while schedule:
        due, user_id = heapq.heappop(schedule)
        if due - start > duration_s:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        update = await fake.send_text(users[user_id], rng.choice(ANSWERS))
        replies.sent_by_user(user_id, fake.update_times[update["update_id"]])
        sent += 1
        heapq.heappush(schedule, (due + rng.expovariate(1 / think_s), user_id))
    elapsed = time.perf_counter() - start
    with contextlib.suppress(AssertionError):  # let the tail arrive
        await fake.wait_for(lambda: not replies.unanswered(), timeout=30)
    fake.on_send = None
    return replies, sent, sent / elapsed


async def _closed_loop(
    fake: FakeBotAPI, people: list[Person], duration_s: float
) -> tuple[float, float]:
    users = {p.user_id: fake.user(p.user_id, p.name) for p in people}
    replies = Replies(set(users))
    rng = random.Random(9)  # noqa: S311 - a load pattern
    stop_at = time.perf_counter() + duration_s
    ready: asyncio.Queue[int] = asyncio.Queue()
    replies.on_turn = ready.put_nowait
    fake.on_send = replies
    for user_id in users:
        ready.put_nowait(user_id)
    answers = 0
    start = time.perf_counter()
    while time.perf_counter() < stop_at:
        try:
            user_id = await asyncio.wait_for(
                ready.get(), timeout=max(0.01, stop_at - time.perf_counter())
            )
        except TimeoutError:
            break
        update = await fake.send_text(users[user_id], rng.choice(ANSWERS))
        replies.sent_by_user(user_id, fake.update_times[update["update_id"]])
        answers += 1
    elapsed = time.perf_counter() - start
    turns, messages = replies.turns, replies.messages
    fake.on_send = None
    return turns / elapsed, messages / elapsed


async def _open_phase(
    fake: FakeBotAPI, people: list[Person], think_s: float, duration_s: float, label: str
) -> list[Result]:
    replies, sent, rate = await _open_loop(fake, people, think_s, duration_s)
    lat = replies.latencies
    if os.environ.get("BENCH_TRACE"):
        first = min(replies.at, default=0.0)
        for at, value in zip(replies.at, lat, strict=True):
            if value > 0.3:
                print(f"# slow reply at +{at - first:.1f} s: {value * 1000:.0f} ms", flush=True)
    lines: list[Result] = [
        (f"{label}_think_time", think_s, "s mean between a candidate's answers"),
        (f"{label}_answers", float(sent), "messages"),
        (f"{label}_rate_in", round(rate, 1), "messages/s"),
        (f"{label}_rate_out", round(replies.messages / duration_s, 1), "messages/s"),
        (f"{label}_reply_p50", round(statistics.median(lat) * 1000, 1) if lat else -1.0, "ms"),
        (f"{label}_reply_p99", round(_pct(lat, 0.99) * 1000, 1) if lat else -1.0, "ms"),
        (f"{label}_reply_max", round(max(lat) * 1000, 1) if lat else -1.0, "ms"),
        (f"{label}_unanswered_after_30s", float(replies.unanswered()), "messages"),
    ]
    for line in lines:
        print(f"# {line[0]} {line[1]} {line[2]}", flush=True)
    return lines


async def _quiet(fake: FakeBotAPI, *, still_s: float = 2.0, limit_s: float = 300.0) -> None:
    """Wait until the bot has sent nothing for ``still_s`` (its backlog is out)."""
    deadline = time.monotonic() + limit_s
    count, since = len(fake.sent), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < still_s:
        await asyncio.sleep(0.2)
        if len(fake.sent) != count:
            count, since = len(fake.sent), time.monotonic()


async def _bench(
    base: Settings,
    *,
    candidates: int,
    think_s: float,
    duration_s: float,
    clients: int,
    saturation_s: float,
    within_think_s: float | None,
    hr_group: bool = True,
) -> list[Result]:
    from testkit.telegram_api import FakeBotAPI

    folder = Path(tempfile.mkdtemp(prefix="bench-telegram-"))
    results: list[Result] = []
    fake = FakeBotAPI()
    fake.record_calls = False
    fake.group(HR_GROUP, "HR bench")
    await fake.start()
    try:
        settings = base.model_copy(deep=True)
        settings.app.data_dir = folder / "data"
        settings.security.key_file = folder / "data" / "keys" / "data.key"
        settings.security.data_key = None
        settings.database.url = f"sqlite:///{folder / 'data' / 'bench.sqlite3'}"
        settings.llm.provider = "fake"
        t0 = time.perf_counter()
        people = await asyncio.to_thread(
            _prepare, settings, candidates + clients, hr_group=hr_group
        )
        print(
            f"# set-up: {len(people)} candidates at question 1 in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        open_people, closed_people = people[:candidates], people[candidates:]
        async with BotProcess(fake, folder, limiter=True):
            results += await _open_phase(fake, open_people, think_s, duration_s, "telegram")
            if within_think_s:
                await _quiet(fake)  # the backlog of the first phase goes out first
                results += await _open_phase(
                    fake, open_people, within_think_s, duration_s, "telegram_within_limit"
                )
        async with BotProcess(fake, folder, limiter=False):
            await _quiet(fake)
            answers_s, messages_s = await _closed_loop(fake, closed_people, saturation_s)
        saturation = [
            ("telegram_saturation_no_limiter", round(answers_s, 1), "answers/s"),
            ("telegram_saturation_no_limiter_out", round(messages_s, 1), "messages/s out"),
        ]
        for line in saturation:
            print(f"# {line[0]} {line[1]} {line[2]}", flush=True)
        results += saturation
    finally:
        await fake.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return results


def run(
    settings: Settings,
    *,
    candidates: int = 1000,
    think_s: float = 60.0,
    duration_s: float = 180.0,
    clients: int = 200,
    saturation_s: float = 45.0,
    within_think_s: float | None = 80.0,
    hr_candidates: int = 1000,
    hr_minutes: float = 20.0,
    hr_group: bool = True,
) -> list[Result]:
    """Run the benchmark; returns (name, value, unit) lines (progress printed with ``#``).

    Args:
        settings: the base settings (a temporary database and data folder are used).
        candidates: candidates in the open loop.
        think_s: mean seconds between a candidate's answers (60 s: the issue's load).
        duration_s: length of each open-loop phase.
        clients: candidates answering back to back in the saturation run.
        saturation_s: length of the saturation run (rate limiter off).
        within_think_s: a second open-loop phase at a load whose replies fit in the
            rate limiter (every answer gets two messages), or None to skip it.
        hr_candidates: candidates of the simulated HR-group run (0 skips it).
        hr_minutes: its simulated length.
        hr_group: bind the job's HR group in the real-bot phases (off: to compare).
    """
    from bench.hrgroup import simulate

    results = asyncio.run(
        _bench(
            settings,
            candidates=candidates,
            think_s=think_s,
            duration_s=duration_s,
            clients=clients,
            saturation_s=saturation_s,
            within_think_s=within_think_s,
            hr_group=hr_group,
        )
    )
    if hr_candidates:
        for line in simulate(settings, candidates=hr_candidates, minutes=hr_minutes):
            print(f"# {line[0]} {line[1]} {line[2]}", flush=True)
            results.append(line)
    return results


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2]))
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=None)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--think", type=float, default=60.0)
    parser.add_argument("--duration", type=float, default=180.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--saturation", type=float, default=45.0)
    parser.add_argument("--within-think", type=float, default=80.0, help="0 skips that phase")
    parser.add_argument("--hr-candidates", type=int, default=1000, help="0 skips the HR group")
    parser.add_argument("--hr-minutes", type=float, default=20.0)
    parser.add_argument("--no-hr-group", action="store_true", help="bind no HR group (compare)")
    ns = parser.parse_args()
    lines = run(
        load_settings(ns.config),
        candidates=ns.candidates,
        think_s=ns.think,
        duration_s=ns.duration,
        clients=ns.clients,
        saturation_s=ns.saturation,
        within_think_s=ns.within_think or None,
        hr_candidates=ns.hr_candidates,
        hr_minutes=ns.hr_minutes,
        hr_group=not ns.no_hr_group,
    )
    for name, value, unit in lines:
        print(f"{name} {value} {unit}")
