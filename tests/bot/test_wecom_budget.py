"""WeCom application messages within WeCom's limits over a busy simulated hour.

Three jobs' robot groups share an HR manager (``hr_li``, in ``[roles]``): every post with
buttons is a template card sent to each HR user as an app message, and WeCom drops what
goes over 30 a minute or 1,000 an hour to one member, or the app's person-times a day.
The real WeCom messenger (wechatpy's client) talks to the fake WeCom API; every
``message/send`` it makes is stamped with the simulated time and checked."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.wecom import app_messages
from core.clock import FakeClock
from dialogs.kernel.intents import AnswerButton, Button, Edit, Intent, Send, SendFile
from dialogs.kernel.notify import group_tag
from dialogs.kernel.outbox import write_intents
from storage.models import GroupBinding, GroupPost, Staff
from tests.fakes.wechat_api import FakeWeChat, Harness, make_harness, seed_job

GROUPS = ("robot", "robot:hr-robot-2", "robot:hr-robot-3")
PER_DAY = 2000  # the app's person-times a day: seats x 200, a 10-seat corp
SPAN, STEP = 3600, 20  # a simulated hour; the dispatcher runs every 20 s


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture
async def h(tmp_path: Path, fake: FakeWeChat) -> AsyncIterator[Harness]:
    """SQLite only: the planning reads the outbox like the group budget does (its
    PostgreSQL path is the group scheduler's tests')."""
    harness = await make_harness(tmp_path, fake)
    harness.app.settings.groups.member_limits["wecom"].per_day = PER_DAY
    jobs = [seed_job(harness.app, code=f"job-{n}") for n in range(len(GROUPS))]
    managers = ("hr_wang", "hr_zhou", "hr_sun")
    with harness.app.db.transaction() as session:
        for chat, job_id, manager in zip(GROUPS, jobs, managers, strict=True):
            session.add(GroupBinding(platform="wecom", chat_id=chat, job_id=job_id, notify="all"))
            session.add(Staff(platform="wecom", user_id=manager, role="hr_manager", job_id=job_id))
    yield harness
    await harness.tasks.drain()
    await harness.http.aclose()
    harness.app.db.engine.dispose()


def _progress(chat: str, job_id: int, n: int) -> list[Intent]:
    """An answer with the "ask a follow-up" button (a card to each HR user) and a start
    without buttons (a robot post)."""
    return [
        Send(
            platform="wecom",
            chat_id=chat,
            text=f"📝 Candidate #{n} answered question 3",
            buttons=[[Button(label="追问", data=f"ask:{n}")]],
            post=group_tag(job_id, "hr.answered", candidate_id=n),
        ),
        Send(
            platform="wecom",
            chat_id=chat,
            text=f"▶️ Candidate #{n + 1} started",
            post=group_tag(job_id, "hr.started", candidate_id=n + 1),
        ),
    ]


def _posts(second: int, jobs: dict[str, int]) -> list[Intent]:
    """What a busy job offers each group every 20 s: three answers (cards) and three
    starts (robot posts); a result every 40 s; and a reply to hr_li's own command every
    20 s."""
    out: list[Intent] = []
    for chat, job_id in jobs.items():
        n = second * 100 + GROUPS.index(chat) * 10
        for k in range(3):
            out += _progress(chat, job_id, n + k * 2)
        if second % 40 == 0:
            out.append(
                Send(
                    platform="wecom",
                    chat_id=chat,
                    text=f"🏁 Result [r{n}] 81/100\nrank 1",
                    buttons=[
                        [
                            Button(label="通过", data=f"dec:{n}:a"),
                            Button(label="下一轮", data=f"dec:{n}:n"),
                            Button(label="拒绝", data=f"dec:{n}:r"),
                        ]
                    ],
                    ref=f"decide:{n}",
                    post=group_tag(job_id, "hiring.summary", candidate_id=n, score=81.0),
                )
            )
    if second % 20 == 0:
        out.append(Send(platform="wecom", chat_id="hr_li", text=f"Jobs list {second}"))
    return out


def _most_in(times: list[float], span: float) -> int:
    most, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - span:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


async def test_a_busy_hour_keeps_every_member_and_the_app_within_wecoms_limits(
    h: Harness, fake: FakeWeChat
) -> None:
    clock = h.app.services.clock
    assert isinstance(clock, FakeClock)
    start = clock.now()
    with h.app.db.session() as session:
        jobs = {b.chat_id: b.job_id for b in session.exec(select(GroupBinding))}
    dispatcher = h.app.dispatcher()
    written: dict[str, float] = {}  # result marker -> when it was offered
    stamped: list[tuple[float, str, dict[str, object]]] = []  # (time, path, json)
    for second in range(0, SPAN, STEP):
        clock.set(start + dt.timedelta(seconds=second))
        intents = _posts(second, jobs)
        with h.app.db.transaction() as session:
            write_intents(session, intents, source_event=None, now=clock.now())
        for intent in intents:
            if isinstance(intent, Send) and intent.ref:
                written[intent.text.split()[2]] = second
        before = len(fake.calls)
        await dispatcher.run_once(groups=True)  # the scheduler's look, then the deliveries
        while await dispatcher.run_once():
            pass
        stamped += [(second, c.path, c.json or {}) for c in fake.calls[before:]]

    sends = [(t, body) for t, path, body in stamped if path == "message/send"]
    per_member: dict[str, list[float]] = {}
    for t, body in sends:
        for user in str(body["touser"]).split("|"):
            per_member.setdefault(user, []).append(t)
    assert set(per_member) == {"hr_li", "hr_wang", "hr_zhou", "hr_sun"}
    for user, times in per_member.items():
        assert _most_in(times, 60) <= 30, user
        assert _most_in(times, 3600) <= 1000, user
    assert sum(len(times) for times in per_member.values()) <= PER_DAY  # the app's person-times
    # Progress filled what results leave (a third of each limit), not more, not much less.
    # The shared manager's minutes were used up to what planning allows, not less.
    assert _most_in(per_member["hr_li"], 60) >= 15

    # Every decision card went out within 30 s of its result.
    lags = []
    for marker, at in written.items():
        sent_at = next(t for t, body in sends if marker in json.dumps(body, ensure_ascii=False))
        lags.append(sent_at - at)
    assert len(lags) == len(GROUPS) * SPAN // 40 and max(lags) <= 30

    # Progress that did not fit was folded into the robots' digests, not sent late.
    digests = [
        body
        for _, path, body in stamped
        if path == "webhook/send" and "📊" in json.dumps(body, ensure_ascii=False)
    ]
    assert len(digests) >= len(GROUPS) * 25  # a digest every 2 minutes in each group
    with h.app.db.session() as session:
        statuses = Counter(session.exec(select(GroupPost.status)).all())
    assert statuses["folded"] > 0 and statuses["released"] > 0


async def test_what_each_intent_costs_the_members(h: Harness) -> None:
    card = [[Button(label="通过", data="dec:1:a")]]
    long = "Candidate #1\n" + "x" * 400
    with h.app.db.session() as session:

        def cost(intent: Intent) -> dict[str, int]:
            return dict(app_messages(session, h.app.settings, intent))

        assert cost(Send(platform="wecom", chat_id="robot", text="progress")) == {}
        assert cost(Send(platform="wecom", chat_id="robot", text="#1", buttons=card)) == {
            "hr_li": 1,
            "hr_wang": 1,
        }
        # Too long for a card: the text goes first, then the card.
        assert cost(Send(platform="wecom", chat_id="robot", text=long, buttons=card)) == {
            "hr_li": 2,
            "hr_wang": 2,
        }
        assert cost(Send(platform="wecom", chat_id="hr_li", text="y" * 4500)) == {"hr_li": 3}
        assert cost(Edit(platform="wecom", chat_id="robot", ref="decide:1", text="done")) == {}
        assert cost(
            AnswerButton(platform="wecom", chat_id="robot", callback_id="t|hr_wang", text="ok")
        ) == {"hr_wang": 1}
        assert cost(
            SendFile(
                platform="wecom",
                chat_id="hr_li",
                path="/x",
                filename="r.pdf",
                mime_type="application/pdf",
                caption="report",
            )
        ) == {"hr_li": 2}
