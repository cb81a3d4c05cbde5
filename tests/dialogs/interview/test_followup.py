"""HR adds a follow-up question to a running interview; it is asked next and scored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from app.wiring import App
from core.clock import FakeClock
from core.settings import Settings
from storage.models import Answer, AuditEvent, CandidateScore, ConversationState, Evaluation
from tests.dialogs.hr_helpers import (
    GROUP,
    STRONG,
    begin,
    interview,
    pipeline_app,
    session_of,
    setup_job,
    texts,
)
from tests.harness import Chat, RecordingMessenger

QUESTION = "How did you measure that the client was satisfied afterwards?"


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = pipeline_app(settings, clock, messenger)
    yield application
    application.db.engine.dispose()


@pytest.fixture
def hr_chat(chat: Chat) -> Chat:
    setup_job(chat)
    return chat


def answers_of(chat: Chat, candidate_id: int) -> list[Answer]:
    s = session_of(chat, candidate_id)
    with chat.app.db.session() as session:
        return list(
            session.exec(
                select(Answer)
                .where(Answer.session_id == s.id, col(Answer.practice).is_(False))
                .order_by(col(Answer.position))
            ).all()
        )


def test_followup_is_asked_after_the_current_question_and_scored(hr_chat: Chat) -> None:
    cid = begin(hr_chat, "ann", "Ann Lee")  # on question 1 of 3 (customer focus)
    replies = hr_chat.send("hr", f"/ask {cid} {QUESTION}", group=GROUP)
    assert "added as question 2 of 4" in texts(replies, GROUP)[-1]
    assert texts(replies, "ann") == []  # the candidate is not interrupted mid-answer

    replies = hr_chat.send("ann", STRONG)  # answers question 1
    asked = texts(replies, "ann")[-1]
    assert "Question 2 of 4" in asked
    assert "A follow-up question from the interviewer" in asked and QUESTION in asked

    replies = hr_chat.send("ann", STRONG)  # answers the follow-up
    assert "Question 3 of 4" in texts(replies, "ann")[-1]
    assert any(f"Candidate #{cid}, answer 2: AI score" in t for t in texts(replies, GROUP))
    hr_chat.send("ann", STRONG)
    hr_chat.send("ann", STRONG)
    hr_chat.send("ann", "/press submit")

    answers = answers_of(hr_chat, cid)
    assert [a.position for a in answers] == [0, 1, 2, 3]
    followup = answers[1]
    assert followup.question_text == QUESTION
    assert followup.question_id is None
    assert followup.competency == "customer_focus"  # the question it follows
    assert followup.status == "scored"
    with hr_chat.app.db.session() as session:
        total = session.exec(
            select(Evaluation).where(
                Evaluation.answer_id == followup.id, Evaluation.dimension == "total"
            )
        ).one()
        assert total.score > 0
        score = session.exec(select(CandidateScore).where(CandidateScore.candidate_id == cid)).one()
        assert score.total is not None
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "followup_added")).one()
        assert audit.actor == "console:hr" and audit.details["chat"] == f"console:{GROUP}"


def test_two_followups_are_asked_in_the_order_hr_sent_them(hr_chat: Chat) -> None:
    cid = begin(hr_chat, "ann", "Ann Lee")
    first = hr_chat.send("hr", f"/ask {cid} First follow-up?", group=GROUP)
    assert "question 2 of 4" in texts(first, GROUP)[-1]
    second = hr_chat.send("admin", f"/ask {cid} Second follow-up?", group=GROUP)
    assert "question 3 of 5" in texts(second, GROUP)[-1]
    asked = texts(hr_chat.send("ann", STRONG), "ann")[-1]
    assert "Question 2 of 5" in asked and "First follow-up?" in asked
    asked = texts(hr_chat.send("ann", STRONG), "ann")[-1]
    assert "Question 3 of 5" in asked and "Second follow-up?" in asked
    asked = texts(hr_chat.send("ann", STRONG), "ann")[-1]
    assert "Question 4 of 5" in asked and "Communication" in asked  # the job's question 2


def test_followup_can_name_its_competency(hr_chat: Chat) -> None:
    cid = begin(hr_chat, "ann", "Ann Lee")
    replies = hr_chat.send("hr", f"/ask {cid} Communication: Who did you tell first?", group=GROUP)
    assert "(Communication)" in texts(replies, GROUP)[-1]
    hr_chat.send("ann", STRONG)
    hr_chat.send("ann", STRONG)
    followup = answers_of(hr_chat, cid)[1]
    assert followup.competency == "communication"
    assert followup.question_text == "Who did you tell first?"


def test_followup_in_review_is_asked_at_once(hr_chat: Chat) -> None:
    cid = begin(hr_chat, "ann", "Ann Lee", lang="zh")
    for _ in range(3):
        replies = hr_chat.send("ann", STRONG)
    assert session_of(hr_chat, cid).state == "review"
    replies = hr_chat.send("hr", f"/ask {cid} 你如何衡量客户满意度？", group=GROUP)
    assert "sent now as question 4 of 4" in texts(replies, GROUP)[-1]
    to_candidate = texts(replies, "ann")[-1]
    assert "面试官的追问" in to_candidate
    assert "你如何衡量客户满意度？" in to_candidate
    assert session_of(hr_chat, cid).state == "question"
    replies = hr_chat.send("ann", STRONG)
    assert session_of(hr_chat, cid).state == "review"
    hr_chat.send("ann", "/press submit")
    assert len(answers_of(hr_chat, cid)) == 4
    assert all(a.status == "scored" for a in answers_of(hr_chat, cid))


def test_button_on_progress_post_then_next_message_is_the_question(hr_chat: Chat) -> None:
    cid = begin(hr_chat, "ann", "Ann Lee")
    replies = hr_chat.send("ann", STRONG)
    progress = [d for d in replies if d.chat_id == GROUP and d.text.startswith("📝")]
    assert progress and f"ask:{cid}" in progress[0].button_data
    started = [d for d in hr_chat.messenger.to(GROUP) if d.text.startswith("▶️")]
    assert started and f"ask:{cid}" in started[0].button_data

    replies = hr_chat.send("hr", f"/press ask:{cid}", group=GROUP)
    assert f"follow-up question for candidate #{cid}" in texts(replies, GROUP)[-1]
    # someone else talking in the group is not taken as the question
    assert hr_chat.send("admin", "lunch?", group=GROUP) == []
    replies = hr_chat.send("hr", QUESTION, group=GROUP)
    assert "added as question 3 of 4" in texts(replies, GROUP)[-1]
    with hr_chat.app.db.session() as session:
        assert session.exec(select(ConversationState)).all() == []
    # the dialog is over: the next message is just chat
    assert hr_chat.send("hr", "thanks", group=GROUP) == []
    assert len(session_of(hr_chat, cid).extra_questions) == 1


def test_button_dialog_can_be_cancelled_and_expires(hr_chat: Chat, clock: FakeClock) -> None:
    cid = begin(hr_chat, "ann", "Ann Lee")
    hr_chat.send("hr", f"/press ask:{cid}", group=GROUP)
    assert "Cancelled" in hr_chat.send("hr", "/cancel", group=GROUP)[-1].text
    hr_chat.send("hr", f"/press ask:{cid}", group=GROUP)
    clock.advance(minutes=20)
    assert hr_chat.send("hr", "an old thought", group=GROUP) == []
    assert session_of(hr_chat, cid).extra_questions == []


def test_followup_after_the_interview_is_done_is_refused(hr_chat: Chat) -> None:
    cid = interview(hr_chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    replies = hr_chat.send("hr", f"/ask {cid} {QUESTION}", group=GROUP)
    assert "already finished the interview" in texts(replies, GROUP)[-1]
    pressed = hr_chat.send("hr", f"/press ask:{cid}", group=GROUP)
    assert pressed[-1].alert and "already finished" in pressed[-1].text
    assert session_of(hr_chat, cid).extra_questions == []


def test_followup_before_the_interview_starts(hr_chat: Chat) -> None:
    hr_chat.send("hr", "/invite sales Bob Ray")
    replies = hr_chat.send("hr", f"/ask 1 {QUESTION}", group=GROUP)
    assert "has not started the interview" in texts(replies, GROUP)[-1]


def test_viewer_cannot_add_a_followup(hr_chat: Chat) -> None:
    cid = begin(hr_chat, "ann", "Ann Lee")
    replies = hr_chat.send("viewer", f"/ask {cid} {QUESTION}", group=GROUP)
    assert texts(replies, GROUP) == [
        "This needs the HR manager role for this job; you are HR viewer. Nothing was changed."
    ]
    pressed = hr_chat.send("viewer", f"/press ask:{cid}", group=GROUP)
    assert pressed[-1].alert and "needs the HR manager role" in pressed[-1].text
    with hr_chat.app.db.session() as session:
        assert session.exec(select(ConversationState)).all() == []
    assert session_of(hr_chat, cid).extra_questions == []


def test_usage_and_limits(hr_chat: Chat) -> None:
    cid = begin(hr_chat, "ann", "Ann Lee")
    assert "Usage: /ask" in hr_chat.send("hr", "/ask", group=GROUP)[-1].text
    assert "Usage: /ask" in hr_chat.send("hr", f"/ask {cid}", group=GROUP)[-1].text
    assert "no candidate #999" in hr_chat.send("hr", "/ask 999 Why?", group=GROUP)[-1].text
    long = hr_chat.send("hr", f"/ask {cid} " + "x" * 1200, group=GROUP)[-1].text
    assert "too long" in long
    assert session_of(hr_chat, cid).extra_questions == []
