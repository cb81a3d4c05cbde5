"""Rejection feedback: per-competency scores and the evaluator's own suggestions, in the
candidate's language; decisions by two HR users at once; scoring at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlmodel import select

from app.wiring import App
from core.clock import FakeClock
from core.settings import Settings
from dialogs.hiring.results import answer_rows
from dialogs.kernel.catalog import t
from dialogs.kernel.events import Event
from dialogs.kernel.intents import AnswerButton, Intent
from dialogs.kernel.notify import competency_label
from storage.models import AuditEvent, CandidateScore, Decision, HumanScore, Job
from tests.dialogs.hr_helpers import GROUP, STRONG, WEAK, interview, pipeline_app, setup_job
from tests.harness import Chat, RecordingMessenger


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = pipeline_app(settings, clock, messenger)
    yield application
    application.db.engine.dispose()


@pytest.fixture
def hr_chat(chat: Chat) -> Chat:
    setup_job(chat)
    chat.send("admin", "/grant console:hr2 hr_manager")
    chat.languages["hr2"] = "zh"
    return chat


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_feedback_has_each_competency_score_and_the_evaluators_suggestions(
    hr_chat: Chat, lang: str
) -> None:
    cid = interview(hr_chat, "bob", "Bob Ray", [WEAK, STRONG, WEAK], lang=lang)
    hr_chat.send("hr", f"/decide {cid} reject", group=GROUP)
    feedback = hr_chat.messenger.to("bob")[-1].text
    with hr_chat.app.db.session() as session:
        job = session.exec(select(Job)).one()
        score = session.exec(select(CandidateScore).where(CandidateScore.candidate_id == cid)).one()
        suggestions: list[str] = []
        for _answer, ev in answer_rows(session, cid):
            for s in ev.suggestions if ev else []:
                if s not in suggestions:
                    suggestions.append(s)
    title = job.title_zh if lang == "zh" else job.title_en
    assert title in feedback and "Bob Ray" in feedback
    for c in job.competencies:
        name = str(c["name"])
        line = t(
            lang,
            "decision.score_line",
            name=competency_label(name, lang),
            score=round(float(score.per_competency[name])),
        )
        assert line in feedback
    assert suggestions, "the fake evaluator gives weak answers suggestions"
    for s in suggestions[:4]:
        assert f"· {s}" in feedback
    # the suggestions are in the candidate's language
    if lang == "zh":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in "".join(suggestions))
    else:
        assert all(s.isascii() for s in suggestions)
    # HR's post shows who decided, when and where; the audit keeps the chat
    with hr_chat.app.db.session() as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "decision")).one()
        assert audit.actor == "console:hr" and audit.details["chat"] == f"console:{GROUP}"


def test_two_hr_users_deciding_at_once_one_wins_the_other_is_told(hr_chat: Chat) -> None:
    cid = interview(hr_chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    events = [
        hr_chat.event(user, f"/press dec:{cid}:{a}", group=GROUP)
        for user, a in (("hr", "a"), ("hr2", "r"))
    ]
    results: dict[str, list[Intent]] = {}

    def press(event: Event) -> None:
        results[event.user_id] = hr_chat.app.engine.handle(event)

    threads = [threading.Thread(target=press, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hr_chat.flush()
    with hr_chat.app.db.session() as session:
        decision = session.exec(select(Decision)).one()
    winner = "hr" if decision.outcome == "approve" else "hr2"
    loser = "hr2" if winner == "hr" else "hr"
    assert decision.decided_by == f"console:{winner}"
    told = [i for i in results[loser] if isinstance(i, AnswerButton) and i.alert]
    lang = "zh" if loser == "hr2" else "en"
    expected = t(
        lang,
        "decision.already",
        outcome=t(lang, f"decision.{decision.outcome}"),
        who=f"console:{winner}",
    )
    assert [i.text for i in told] == [expected]
    to_candidate = [d.text for d in hr_chat.messenger.to("ann")]
    assert sum("Good news" in x or "Thank you for your time" in x for x in to_candidate) == 1


def test_two_hr_users_scoring_at_once_each_keep_their_row(hr_chat: Chat) -> None:
    cid = interview(hr_chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    hr_chat.run_jobs = False
    events = [
        hr_chat.event(user, f"/press hs:{cid}:1:{v}", group=GROUP)
        for user, v in (("hr", 4), ("hr2", 2), ("hr", 5))
    ]
    threads = [threading.Thread(target=hr_chat.app.engine.handle, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with hr_chat.app.db.session() as session:
        rows = session.exec(select(HumanScore)).all()
    by = {r.scorer: r.score for r in rows}
    assert len(rows) == 2
    assert by["console:hr2"] == 2 and by["console:hr"] in (4, 5)
