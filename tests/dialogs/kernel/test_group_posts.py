"""An HR group at campus scale: the group hears results first, never more than its
platform allows in a minute, progress in digests instead of hours late, and what HR
chose with /notify."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from app.wiring import App, build_app
from core.clock import FakeClock
from core.settings import Settings
from dialogs.kernel.intents import Button, Edit, Intent, Send
from dialogs.kernel.notify import group_tag
from dialogs.kernel.outbox import write_intents
from storage.models import GroupPost, OutboxMessage
from tests.dialogs.crash_child import FileMessenger
from tests.harness import Chat, Delivered, RecordingMessenger

GROUP = "hr-room"
LIMIT = 20


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    settings.groups.per_minute["console"] = LIMIT
    settings.groups.digest_seconds = 120
    settings.groups.fold_after_seconds = 120
    settings.groups.window_seconds = 60  # the minute's posts at once (spreading: own test)
    application = build_app(settings, clock=clock)
    application.channels["console"] = messenger
    yield application
    application.db.engine.dispose()


@pytest.fixture
def hr_room(chat: Chat) -> Chat:
    chat.create_job()
    chat.send("admin", "/bind sales", group=GROUP)
    return chat


def job_id(chat: Chat) -> int:
    from storage.models import Job

    with chat.app.db.session() as session:
        return session.exec(select(Job.id).where(Job.code == "sales")).one() or 0


def candidates_answer(chat: Chat, count: int, *, first: int = 1) -> None:
    """``count`` candidates each answer a question: what the interview posts to the group."""
    jid = job_id(chat)
    posts: list[Intent] = [
        Send(
            platform="console",
            chat_id=GROUP,
            text=f"📝 Candidate #{n} answered question 1/3 (text).",
            post=group_tag(jid, "hr.answered", candidate_id=n),
        )
        for n in range(first, first + count)
    ]
    write_all(chat, posts)


def results_arrive(chat: Chat, ids: list[int]) -> None:
    jid = job_id(chat)
    posts: list[Intent] = [
        Send(
            platform="console",
            chat_id=GROUP,
            text=f"🏁 Result for candidate #{n}: {60 + n}/100",
            buttons=[[Button(label="Approve", data=f"dec:{n}:a")]],
            ref=f"decide:{n}",
            post=group_tag(jid, "hiring.summary", candidate_id=n, score=60.0 + n),
        )
        for n in ids
    ]
    write_all(chat, posts)


def write_all(chat: Chat, intents: list[Intent]) -> None:
    with chat.app.db.transaction() as session:
        write_intents(session, intents, source_event=None, now=chat.app.services.clock.now())


def deliver(chat: Chat) -> list[Delivered]:
    before = len(chat.messenger.delivered)
    chat.flush()
    return [d for d in chat.messenger.delivered[before:] if d.chat_id == GROUP]


def statuses(chat: Chat) -> dict[str, int]:
    with chat.app.db.session() as session:
        rows = session.exec(select(GroupPost.status)).all()
    return {s: rows.count(s) for s in set(rows)}


def test_a_busy_group_hears_results_first_within_its_limit_and_stale_progress_in_a_digest(
    hr_room: Chat, clock: FakeClock
) -> None:
    # 100 candidates answer at once, and three results arrive just after.
    with hr_room.app.db.transaction() as session:
        from storage.models import GroupBinding

        binding = session.exec(select(GroupBinding)).one()
        binding.notify = "all"  # every post, as long as it arrives on time
        session.add(binding)
    candidates_answer(hr_room, 100)
    results_arrive(hr_room, [7, 8, 9])
    first_minute = deliver(hr_room)
    # The /bind reply counted, and one post stays free for a result that may come.
    assert 1 + len(first_minute) == LIMIT - 1
    assert [d.text.split(":")[0] for d in first_minute[:3]] == [
        "🏁 Result for candidate #7",
        "🏁 Result for candidate #8",
        "🏁 Result for candidate #9",
    ]
    assert all("answered question" in d.text for d in first_minute[3:])
    assert deliver(hr_room) == []  # nothing more within the minute

    # A minute later the budget is back, and progress continues in order.
    clock.advance(seconds=61)
    second_minute = deliver(hr_room)
    assert len(second_minute) == LIMIT - 1
    assert "#16 answered" in second_minute[0].text

    # Two minutes later what is left is stale: folded, and the digest reports everything.
    clock.advance(seconds=121)
    third = deliver(hr_room)
    assert statuses(hr_room)["folded"] == 100 - 15 - 19
    (digest,) = [d for d in third if d.text.startswith("📊")]
    assert "100 answered" in digest.text
    assert "#9 — 69.0/100 · /report 9" in digest.text  # the new top candidates
    assert not any("answered question" in d.text for d in third)  # no late progress


def test_results_that_waited_together_become_one_post_and_a_later_decision_is_posted_anew(
    hr_room: Chat, clock: FakeClock
) -> None:
    results_arrive(hr_room, list(range(1, 61)))  # a wave of 60 results at once
    posts = deliver(hr_room)
    assert len(posts) == 6  # ten to a post (the most merged), oldest first
    assert "#1:" in posts[0].text and "#10:" in posts[0].text and "#11:" in posts[1].text
    assert posts[0].buttons[0][0].label == "#1 Approve"  # whose button is whose
    assert sum(d.text.count("🏁") for d in posts) == 60  # every result arrived at once
    # Deciding on #2 edits its result; as it shares a post with others it is posted anew.
    write_all(hr_room, [Edit(platform="console", chat_id=GROUP, ref="decide:2", text="#2 ✔")])
    clock.advance(seconds=61)
    (anew,) = deliver(hr_room)
    assert (anew.kind, anew.text) == ("send", "#2 ✔")


def test_posts_are_spread_over_the_minute_so_a_result_never_waits_for_the_next(
    hr_room: Chat, clock: FakeClock
) -> None:
    hr_room.app.settings.groups.window_seconds = 15  # the default: 5 of the 20 per 15 s
    hr_room.send("hr", "/notify all", group=GROUP)
    candidates_answer(hr_room, 10)
    assert len(deliver(hr_room)) == 5 - 2 - 1  # /bind and /notify replies; one kept free
    results_arrive(hr_room, [42])
    assert [d.text.split(":")[0] for d in deliver(hr_room)] == ["🏁 Result for candidate #42"]
    clock.advance(seconds=16)
    assert len(deliver(hr_room)) == 4  # the next window's share, less the one kept free


def test_an_edit_of_a_result_still_waiting_is_applied_before_it_is_sent(
    hr_room: Chat, clock: FakeClock
) -> None:
    results_arrive(hr_room, [5])
    write_all(hr_room, [Edit(platform="console", chat_id=GROUP, ref="decide:5", text="#5 done")])
    (post,) = deliver(hr_room)
    assert (post.kind, post.text) == ("send", "#5 done")


def test_candidate_replies_go_before_hr_posts_at_the_bot_wide_limit(
    hr_room: Chat, clock: FakeClock
) -> None:
    hr_room.app.settings.groups.bot_per_second["console"] = 3.0
    dispatcher = hr_room.app.dispatcher()
    clock.advance(seconds=61)
    asyncio.run(dispatcher.run_once(groups=True))
    results_arrive(hr_room, [1, 2, 3, 4])
    dispatcher.tick_groups()  # four HR posts in the outbox, then five candidates' replies
    write_all(
        hr_room,
        [
            Send(platform="console", chat_id=f"cand{n}", text=f"Question 2 for {n}")
            for n in range(5)
        ],
    )
    before = len(hr_room.messenger.delivered)
    asyncio.run(dispatcher.run_once())
    first = [d.chat_id for d in hr_room.messenger.delivered[before:]]
    assert sorted(first) == [f"cand{n}" for n in range(5)]  # candidates first, all of them
    asyncio.run(dispatcher.run_once())
    assert len(hr_room.messenger.delivered) == before + 5  # the budget is spent this second
    clock.advance(seconds=2)
    asyncio.run(dispatcher.drain())  # then the group's, one at a time in their order
    assert group_texts(hr_room, before) == [f"🏁 Result for candidate #{n}" for n in (1, 2, 3)]
    clock.advance(seconds=1)
    asyncio.run(dispatcher.drain())
    assert group_texts(hr_room, before)[3:] == ["🏁 Result for candidate #4"]


def group_texts(chat: Chat, before: int) -> list[str]:
    return [d.text.split(":")[0] for d in chat.messenger.delivered[before:] if d.chat_id == GROUP]


def texts(replies: list[Delivered]) -> list[str]:
    return [d.text for d in replies]


def test_hr_chooses_what_the_group_hears_with_notify(hr_room: Chat, clock: FakeClock) -> None:
    assert texts(hr_room.send("hr", "/notify", group=GROUP)) == [
        "Job sales: this group hears auto (now: every post). "
        "Change it with /notify all|digest|results|off|auto."
    ]
    assert texts(hr_room.send("hr", "/notify digest", group=GROUP)) == [
        "Job sales: this group now hears digests."
    ]
    jobs = texts(hr_room.send("hr", "/jobs", group=GROUP))[0]
    assert "HR group: digests" in jobs
    candidates_answer(hr_room, 5)
    results_arrive(hr_room, [3])
    assert [d.text for d in deliver(hr_room)] == ["🏁 Result for candidate #3: 63/100"]
    clock.advance(seconds=121)
    (digest,) = deliver(hr_room)
    assert "New: ▶️ 0 started · 📝 5 answered" in digest.text
    # Results only: no progress and no digests.
    hr_room.send("hr", "/notify results", group=GROUP)
    candidates_answer(hr_room, 5, first=10)
    clock.advance(seconds=121)
    assert deliver(hr_room) == []
    # Off: nothing at all, results included.
    hr_room.send("hr", "/notify sales off", group=GROUP)
    results_arrive(hr_room, [11])
    clock.advance(seconds=121)
    assert deliver(hr_room) == []
    assert "HR group: nothing" in texts(hr_room.send("hr", "/jobs"))[0]


def test_notify_refuses_bad_words_private_chats_and_unbound_jobs(hr_room: Chat) -> None:
    usage = texts(hr_room.send("hr", "/notify sales loud", group=GROUP))[0]
    assert usage.startswith("Usage (in the HR group): /notify")
    assert texts(hr_room.send("hr", "/notify digest")) == [
        "/notify sets what an HR group hears: send it in the group bound to the job."
    ]
    hr_room.create_job("ops")
    assert texts(hr_room.send("hr", "/notify ops digest", group=GROUP)) == [
        "This group is not bound to job ops. Bind it first with /bind ops."
    ]


def test_a_viewer_and_another_jobs_manager_cannot_change_the_setting(hr_room: Chat) -> None:
    hr_room.create_job("ops")
    hr_room.send("admin", "/grant console:olga hr_manager ops")
    viewer = texts(hr_room.send("viewer", "/notify off", group=GROUP))
    other = texts(hr_room.send("olga", "/notify sales off", group=GROUP, lang="en"))
    assert len(viewer) == 1 and "HR manager" in viewer[0]
    assert len(other) == 1 and "ops" in other[0]
    from storage.models import GroupBinding

    with hr_room.app.db.session() as session:
        assert session.exec(select(GroupBinding.notify)).one() == "auto"


def test_auto_switches_to_digests_when_progress_outgrows_the_group(
    hr_room: Chat, clock: FakeClock
) -> None:
    candidates_answer(hr_room, 5)  # few: every post, on time
    assert len(deliver(hr_room)) == 5
    clock.advance(seconds=61)
    candidates_answer(hr_room, 40, first=100)  # more than the group's limit in a minute
    assert deliver(hr_room) == []
    assert statuses(hr_room)["folded"] == 40
    assert "auto (now: digests)" in texts(hr_room.send("hr", "/notify", group=GROUP))[0]
    # /jobs shows the setting and the switch, in the group and in a private chat.
    assert "HR group: auto (now: digests)" in texts(hr_room.send("hr", "/jobs", group=GROUP))[0]
    assert "HR group: auto (now: digests)" in texts(hr_room.send("hr", "/jobs"))[0]
    clock.advance(seconds=121)
    (digest,) = deliver(hr_room)
    assert "📝 45 answered" in digest.text.split("\n")[2]  # so far
    with hr_room.app.db.session() as session:
        rows = session.exec(select(OutboxMessage.chat_id).where(OutboxMessage.chat_id == GROUP))
        assert len(list(rows)) <= 1 + 5 + 1 + 1 + 1  # bind, five posts, /notify, /jobs, digest


def test_the_digest_names_the_job_and_counts(hr_room: Chat, clock: FakeClock) -> None:
    hr_room.send("hr", "/notify digest", group=GROUP)
    candidates_answer(hr_room, 3)
    clock.advance(seconds=121)
    (digest,) = deliver(hr_room)
    assert re.match(r"📊 Sales rep — status at \d\d:\d\d \(UTC\)", digest.text)


ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("point", "kill_at"),
    [("mid_release", 0), ("after_release", 0), ("mid_delivery", 3), ("mid_delivery", 9)],
)
def test_a_kill_while_releasing_or_sending_loses_nothing_and_sends_nothing_twice(
    hr_room: Chat, settings: Settings, clock: FakeClock, tmp_path: Path, point: str, kill_at: int
) -> None:
    clock.set(dt.datetime.now(dt.UTC))  # the child process runs on the real clock
    hr_room.send("hr", "/notify all", group=GROUP)
    candidates_answer(hr_room, 12)
    results_arrive(hr_room, [1, 2, 3, 4])
    hr_room.app.db.engine.dispose()
    (tmp_path / "settings.json").write_text(settings.model_dump_json())
    log = tmp_path / "delivered.jsonl"
    child = subprocess.run(
        [sys.executable, "-m", "tests.dialogs.group_crash_child"]
        + [str(tmp_path / "settings.json"), str(log), point, str(kill_at)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr[-2000:]

    second = build_app(settings)
    second.channels["console"] = FileMessenger(log)
    dispatcher = second.dispatcher()
    dispatcher.recover()
    asyncio.run(dispatcher.drain())
    texts = [
        json.loads(line)["text"]
        for line in log.read_text().splitlines()
        if json.loads(line)["chat"] == GROUP
    ]
    assert [t.split(":")[0] for t in texts] == [
        *(f"🏁 Result for candidate #{n}" for n in (1, 2, 3, 4)),
        *(f"📝 Candidate #{n} answered question 1/3 (text)." for n in range(1, 13)),
    ]
    second.db.engine.dispose()
