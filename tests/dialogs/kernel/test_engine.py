"""The engine under concurrent load: events that arrive together share a commit on
SQLite, yet each keeps its own outcome (stored with its intents, failed alone, or a
duplicate that changes nothing)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import ColumnElement
from sqlalchemy import event as sa_event
from sqlmodel import SQLModel, col, func, select

from dialogs.interview import flow as interview
from dialogs.kernel.context import Ctx
from storage.models import Answer, AuditEvent, InboxEvent, InterviewSession, OutboxMessage
from tests.harness import Chat


@pytest.fixture
def candidates(chat: Chat) -> list[str]:
    """Three candidates, each at their first question."""
    chat.create_job()
    users = []
    for i, name in enumerate(["Alex Chen", "Bo Li", "Cai Wen"]):
        token, code = chat.invite(name)
        user = f"cand{i}"
        chat.start_interview(user, name, token, code, voice=False)
        users.append(user)
    return users


def count(chat: Chat, model: type[SQLModel], *where: ColumnElement[bool] | bool) -> int:
    with chat.app.db.session() as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def question_index(chat: Chat, user: str) -> int:
    with chat.app.db.session() as session:
        s = session.exec(select(InterviewSession).where(InterviewSession.user_id == user)).one()
        return s.question_index


def commits_during(chat: Chat) -> list[int]:
    """A counter of commits on the app's database (read it after the action)."""
    counter = [0]

    @sa_event.listens_for(chat.app.db.engine, "commit")
    def _count(_conn: object) -> None:
        counter[0] += 1

    return counter


def test_events_arriving_together_share_one_commit_on_sqlite(
    chat: Chat, candidates: list[str]
) -> None:
    events = [chat.event(user, f"My answer, {user}.") for user in candidates]
    commits = commits_during(chat)
    results = chat.app.engine.handle_batch(events)
    assert all(any("Question 2 of 3" in getattr(i, "text", "") for i in r) for r in results)
    assert [question_index(chat, u) for u in candidates] == [1, 1, 1]
    for e in events:  # each event's inbox row and replies are stored
        assert count(chat, InboxEvent, InboxEvent.event_id == e.event_id) == 1
        assert count(chat, OutboxMessage, OutboxMessage.source_event == e.event_id) >= 1
    if chat.app.db.is_sqlite:
        assert commits[0] == 1
    else:  # PostgreSQL: one transaction per event (row locks stay short)
        assert commits[0] == len(events)


def test_a_failing_event_in_a_batch_fails_alone(
    chat: Chat, candidates: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = interview._on_question

    def broken_for_bo(ctx: Ctx, s: InterviewSession) -> None:
        original(ctx, s)  # writes first: the savepoint must undo these writes
        if ctx.event.user_id == "cand1":
            raise RuntimeError("boom")

    monkeypatch.setattr(interview, "_on_question", broken_for_bo)
    events = [chat.event(user, "An answer.") for user in candidates]
    results = chat.app.engine.handle_batch(events)

    assert "Something went wrong" in getattr(results[1][-1], "text", "")
    assert [question_index(chat, u) for u in candidates] == [1, 0, 1]
    with chat.app.db.session() as session:
        failed = session.exec(select(InboxEvent).where(InboxEvent.status == "failed")).one()
        assert failed.event_id == events[1].event_id
        assert (failed.error or "").startswith("RuntimeError at tests.dialogs.kernel.test_engine:")
        stored = session.exec(select(Answer).where(col(Answer.position) == 0)).all()
        assert len(stored) == 2  # Bo's answer was rolled back with its savepoint
    # The failed event's only reply is the apology; the others got their next question.
    assert count(chat, OutboxMessage, OutboxMessage.source_event == events[1].event_id) == 1
    assert count(chat, AuditEvent, AuditEvent.action == "answer_stored") == 2


def test_a_duplicate_inside_a_batch_changes_nothing(chat: Chat, candidates: list[str]) -> None:
    first = chat.event(candidates[0], "Answer one.", event_id="console:dup-batch")
    again = chat.event(candidates[0], "Answer one.", event_id="console:dup-batch")
    other = chat.event(candidates[1], "Answer one.")
    results = chat.app.engine.handle_batch([first, again, other])
    assert results[0]
    assert results[1] == []
    assert results[2]
    assert question_index(chat, candidates[0]) == 1
    assert count(chat, InboxEvent, InboxEvent.event_id == "console:dup-batch") == 1
    # Sent again later, alone: still nothing.
    assert chat.app.engine.handle(again) == []
    assert question_index(chat, candidates[0]) == 1


def test_concurrent_interviews_lose_nothing(chat: Chat, candidates: list[str]) -> None:
    """Threads calling handle() at once (batched on SQLite): every answer is stored once."""
    errors: list[BaseException] = []

    def interview_of(user: str) -> None:
        try:
            for n in range(3):
                replies = chat.app.engine.handle(chat.event(user, f"Answer {n} from {user}."))
                assert replies, "every answer gets a reply"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=interview_of, args=(u,)) for u in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    for user in candidates:
        with chat.app.db.session() as session:
            s = session.exec(select(InterviewSession).where(InterviewSession.user_id == user)).one()
            assert s.state == "review"
            answers = session.exec(
                select(Answer).where(Answer.session_id == s.id, col(Answer.practice).is_(False))
            ).all()
            assert sorted(a.position for a in answers) == [0, 1, 2]
    assert count(chat, InboxEvent, InboxEvent.status == "failed") == 0
