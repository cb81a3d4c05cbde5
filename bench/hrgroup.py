"""The HR group of a job at campus scale, on a simulated clock (part of ``bench telegram``).

1,000 candidates start within the first three minutes and answer 12 questions about once
a minute each (exponential gaps); every answer posts "answered" and, 10 s later, its AI
score (3 % flagged for review) to the job's HR group; the last answer posts "completed"
and, 20 s later, the result with its decision buttons. That is ~33 posts a second offered
to a group Telegram lets a bot post 20 a minute to. The real group scheduler, outbox and
dispatcher run on a SQLite database with a simulated clock (one step a second); the
channel is a recording messenger that can edit (the Telegram live status).

Reported: posts (and edits) per group per minute, the most in any 60 s; lag from an event
to the post or digest that reported it (p50/p99), for progress and for results; how many
progress events were folded into digests instead of posted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import col, select

from app.wiring import build_app
from core.clock import FakeClock
from core.settings import Settings
from dialogs.kernel.intents import Button, Intent, Send
from dialogs.kernel.notify import group_tag
from dialogs.kernel.outbox import write_intents
from storage.models import GroupBinding, GroupPost, Job

Result = tuple[str, float, str]
GROUP = "-1001"


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    key: str = field(compare=False)
    candidate: int = field(compare=False)
    score: float | None = field(compare=False, default=None)


class _Recorder:
    """The Telegram side: every delivery to the group with its simulated time."""

    platform = "telegram"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.at: list[float] = []
        self.kinds: list[str] = []
        self._ids = itertools.count(1)

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        if intent.chat_id == GROUP:
            self.at.append(self.clock.now().timestamp())
            self.kinds.append(intent.kind)
        return str(next(self._ids))


def _events(candidates: int, questions: int, seed: int) -> list[_Event]:
    rng = random.Random(seed)  # noqa: S311 - a load pattern
    seq = itertools.count()
    out: list[_Event] = []
    for cid in range(1, candidates + 1):
        t = rng.uniform(0, 180)
        out.append(_Event(t, next(seq), "hr.started", cid))
        for _ in range(questions):
            t += rng.expovariate(1 / 60)
            out.append(_Event(t, next(seq), "hr.answered", cid))
            flagged = rng.random() < 0.03
            key = "pipeline.hr_needs_review" if flagged else "pipeline.hr_scored"
            out.append(_Event(t + 10, next(seq), key, cid))
        out.append(_Event(t, next(seq), "hr.completed", cid))
        out.append(_Event(t + 20, next(seq), "hiring.summary", cid, round(rng.uniform(30, 95), 1)))
    return sorted(out)


def _intent(job_id: int, e: _Event) -> Send:
    if e.key == "hiring.summary":
        text = (
            f"🏁 Candidate #{e.candidate} — AI score {e.score}/100 · communication 4.1 · "
            "customer focus 3.8 · problem solving 4.0 · report attached · decide below"
        )
        buttons = [
            [Button(label="Approve", data=f"dec:{e.candidate}:a")],
            [Button(label="Reject", data=f"dec:{e.candidate}:r")],
        ]
        ref: str | None = f"decide:{e.candidate}"
    else:
        text, buttons, ref = f"Candidate #{e.candidate}: {e.key}", [], None
    return Send(
        platform="telegram",
        chat_id=GROUP,
        text=text,
        buttons=buttons,
        ref=ref,
        post=group_tag(job_id, e.key, candidate_id=e.candidate, score=e.score),
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def simulate(
    base: Settings,
    *,
    candidates: int = 1000,
    questions: int = 12,
    minutes: float = 20.0,
    seed: int = 7,
) -> list[Result]:
    folder = Path(tempfile.mkdtemp(prefix="bench-hrgroup-"))
    try:
        return _simulate(base, folder, candidates, questions, minutes, seed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _simulate(
    base: Settings, folder: Path, candidates: int, questions: int, minutes: float, seed: int
) -> list[Result]:
    settings = base.model_copy(deep=True)
    settings.app.data_dir = folder / "data"
    settings.security.key_file = folder / "data" / "keys" / "data.key"
    settings.security.data_key = None
    settings.database.url = f"sqlite:///{folder / 'data' / 'hrgroup.sqlite3'}"
    start = dt.datetime(2026, 9, 1, 9, 0, tzinfo=dt.UTC)
    clock = FakeClock(start)
    app = build_app(settings, clock=clock)
    recorder = _Recorder(clock)
    app.channels.clear()
    app.channels["telegram"] = recorder
    with app.db.transaction() as session:
        job = Job(code="bench-hr", title_zh="校园招聘", title_en="Campus hiring")
        session.add(job)
        session.flush()
        job_id = job.id or 0
        session.add(GroupBinding(platform="telegram", chat_id=GROUP, job_id=job_id, language="en"))
    events = _events(candidates, questions, seed)
    horizon = minutes * 60
    order: list[float] = []  # true event time of each GroupPost, in id order
    digests: list[tuple[int, float]] = []  # (cursor, time) of every digest / status update
    dispatcher = app.dispatcher()
    loop = asyncio.new_event_loop()
    pending = iter(events)
    nxt = next(pending, None)
    last_cursor = 0
    for second in range(int(horizon) + 1):
        clock.set(start + dt.timedelta(seconds=second))
        batch: list[_Event] = []
        while nxt is not None and nxt.at <= second:
            batch.append(nxt)
            nxt = next(pending, None)
        if batch:
            with app.db.transaction() as session:
                intents: list[Intent] = [_intent(job_id, e) for e in batch]
                write_intents(session, intents, source_event=None, now=clock.now())
            order += [start.timestamp() + e.at for e in batch]
        while loop.run_until_complete(dispatcher.run_once()):
            pass
        with app.db.session() as session:
            cursor = session.exec(select(GroupBinding.digest_cursor)).one()
        if cursor != last_cursor:
            digests.append((cursor, clock.now().timestamp()))
            last_cursor = cursor
    loop.close()
    with app.db.session() as session:
        rows = [
            (pid or 0, klass, status, released)
            for pid, klass, status, released in session.exec(
                select(
                    GroupPost.id, GroupPost.klass, GroupPost.status, GroupPost.released_at
                ).order_by(col(GroupPost.id))
            )
        ]
    app.db.engine.dispose()
    return _figures(rows, order, digests, recorder, start.timestamp() + horizon)


def _figures(
    rows: list[tuple[int, str, str, dt.datetime | None]],
    order: list[float],
    digests: list[tuple[int, float]],
    recorder: _Recorder,
    end: float,
) -> list[Result]:
    lag: dict[str, list[float]] = {"progress": [], "result": []}
    unreported = {"progress": 0, "result": 0}
    folded = 0
    for (pid, klass, status, released), at in zip(rows, order, strict=True):
        if status in ("folded", "digest"):
            folded += 1
            told = next((t for cursor, t in digests if cursor >= pid), None)
        else:
            told = released.timestamp() if released is not None else None
        if told is None:
            unreported[klass] += 1
        else:
            lag[klass].append(max(0.0, told - at))
    per_minute = 0
    times = recorder.at
    lo = 0
    for hi, t in enumerate(times):
        while times[lo] <= t - 60:
            lo += 1
        per_minute = max(per_minute, hi - lo + 1)
    progress_total = sum(1 for r in rows if r[1] == "progress")
    return [
        ("hrgroup_events_offered", len(rows), "events"),
        ("hrgroup_posts_per_group_per_min_max", per_minute, "posts/min"),
        ("hrgroup_status_edits", recorder.kinds.count("edit"), "edits"),
        ("hrgroup_progress_lag_p50", round(_pct(lag["progress"], 0.5), 1), "s"),
        ("hrgroup_progress_lag_p99", round(_pct(lag["progress"], 0.99), 1), "s"),
        ("hrgroup_result_lag_p50", round(_pct(lag["result"], 0.5), 1), "s"),
        ("hrgroup_result_lag_p99", round(_pct(lag["result"], 0.99), 1), "s"),
        ("hrgroup_progress_folded", folded, f"of {progress_total} progress events"),
        ("hrgroup_unreported_at_end", sum(unreported.values()), "events (the last digest due)"),
    ]


def run(settings: Settings) -> list[Result]:
    """``python main.py bench hrgroup``: the simulated HR group alone (``bench telegram``
    runs it after its real-bot phases)."""
    return simulate(settings)
