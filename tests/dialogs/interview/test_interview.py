"""The candidate's interview, as conversations."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import col, func, select

from core.clock import FakeClock
from storage.models import (
    Answer,
    BackgroundJob,
    Candidate,
    FunnelEvent,
    InboxEvent,
    InterviewSession,
    OutboxMessage,
)
from tests.harness import Chat


@pytest.fixture
def invited(chat: Chat) -> tuple[str, str]:
    chat.create_job()
    return chat.invite("Alex Chen")


def session_of(chat: Chat, user: str) -> InterviewSession:
    with chat.app.db.session() as session:
        return session.exec(select(InterviewSession).where(InterviewSession.user_id == user)).one()


def answers_of(chat: Chat, user: str) -> list[Answer]:
    s = session_of(chat, user)
    with chat.app.db.session() as session:
        return list(
            session.exec(
                select(Answer).where(Answer.session_id == s.id).order_by(col(Answer.id))
            ).all()
        )


def test_whole_interview_in_english(chat: Chat, invited: tuple[str, str]) -> None:
    token, code = invited
    replies = chat.send("alex", f"/start {token}", lang="en")
    assert "choose your language" in replies[-1].text
    assert replies[-1].button_data == ["lang:zh", "lang:en"]

    replies = chat.send("alex", "/press lang:en")
    assert "privacy notice" in replies[-1].text
    assert "a person makes every decision" in replies[-1].text
    assert replies[-1].button_data == ["consent:yes", "consent:no"]

    replies = chat.send("alex", "/press consent:yes")
    assert "sensitive personal information" in replies[-1].text

    replies = chat.send("alex", "/press sens:yes")
    assert "confirm your identity" in replies[-1].text

    replies = chat.send("alex", f"alex chen {code}")
    assert "Identity confirmed" in replies[0].text
    assert "practice question" in replies[-1].text

    replies = chat.send("alex", "Hi, I am Alex and I sell software.")
    assert "only practice" in replies[0].text
    assert "Question 1 of 3" in replies[-1].text

    replies = chat.send("alex", "I renewed a contract worth 1.2M after calling the client daily.")
    assert "Answer 1 received" in replies[0].text
    assert replies[0].button_data == [f"rr:{answers_of(chat, 'alex')[-1].id}"]
    assert "Question 2 of 3" in replies[-1].text

    chat.media("alex", b"OggS" + b"\0" * 100, kind="voice", duration=30)
    replies = chat.send("alex", "I fixed the returns problem by changing the packaging.")
    assert "Answer 3 received" in replies[0].text
    assert "submit" in replies[-1].button_data

    replies = chat.send("alex", "/press submit")
    assert "last question" in replies[-1].text
    assert "thank you" in replies[-1].text.lower()

    answers = answers_of(chat, "alex")
    assert [(a.position, a.kind, a.practice) for a in answers] == [
        (-1, "text", True),
        (0, "text", False),
        (1, "voice", False),
        (2, "text", False),
    ]
    assert answers[2].media_sha256 is not None
    assert answers[2].duration_s == 30
    s = session_of(chat, "alex")
    assert s.state == "done"
    assert s.consent_version == chat.app.settings.security.notice_version
    assert s.consent_at is not None
    assert s.sensitive_consent
    with chat.app.db.session() as session:
        kinds = sorted(session.exec(select(BackgroundJob.kind)).all())
        stages = set(session.exec(select(FunnelEvent.stage)).all())
    assert kinds == [
        "evaluate",
        "evaluate",
        "interview_completed",
        "transcribe",
    ]  # practice never scored
    assert stages == {"invited", "opened", "started", "completed"}

    replies = chat.send("alex", "hello?")
    assert "interview is complete" in replies[-1].text


def test_chinese_interview_and_language_switch(chat: Chat, invited: tuple[str, str]) -> None:
    token, code = invited
    chat.send("li", f"/start {token}", lang="zh-hans")
    replies = chat.send("li", "中文")
    assert "隐私告知" in replies[-1].text
    replies = chat.send("li", "/language")
    assert "privacy notice" in replies[-1].text
    replies = chat.send("li", "/language")
    assert "隐私告知" in replies[-1].text
    # naming a language sets it (again and again); naming another one changes nothing
    assert "privacy notice" in chat.send("li", "/language English")[-1].text
    assert "privacy notice" in chat.send("li", "/language en")[-1].text
    assert "中文 and English" in chat.send("li", "/language fr")[-1].text
    assert session_of(chat, "li").language == "en"


def test_refusing_consent_ends_politely_and_is_recorded(
    chat: Chat, invited: tuple[str, str]
) -> None:
    token, _ = invited
    chat.send("alex", f"/start {token}", lang="en")
    chat.send("alex", "/press lang:en")
    replies = chat.send("alex", "/press consent:no")
    assert "did not agree" in replies[-1].text
    assert session_of(chat, "alex").state == "declined"
    replies = chat.send("alex", "I want to answer anyway")
    assert "ended" in replies[-1].text
    assert answers_of(chat, "alex") == []
    # Opening the link again asks for consent again.
    replies = chat.send("alex", f"/start {token}")
    assert "privacy notice" in replies[-1].text


def test_text_only_consent_refuses_voice(chat: Chat, invited: tuple[str, str]) -> None:
    token, code = invited
    chat.start_interview("alex", "Alex Chen", token, code, voice=False)
    replies = chat.media("alex", b"OggS....", duration=5)
    assert "type your answer" in replies[-1].text
    assert answers_of(chat, "alex") == []


def test_identity_check_locks_after_three_wrong_tries(chat: Chat, invited: tuple[str, str]) -> None:
    token, code = invited
    chat.send("admin", "/bind sales", group="hr-room")
    chat.send("alex", f"/start {token}", lang="en")
    chat.send("alex", "/press lang:en")
    chat.send("alex", "/press consent:yes")
    chat.send("alex", "/press sens:yes")
    assert "2 tries left" in chat.send("alex", "Alex Chen 000000")[-1].text
    assert "1 tries left" in chat.send("alex", "Somebody Else " + code)[-1].text
    replies = chat.send("alex", "Alex Chen 999999")
    assert "locked" in replies[0].text
    assert session_of(chat, "alex").state == "locked"
    assert (
        "identity check failed 3 times" in chat.messenger.to("hr-room")[-1].text
        or "身份验证失败" in chat.messenger.to("hr-room")[-1].text
    )
    # Even the right code no longer works.
    assert "locked" in chat.send("alex", f"Alex Chen {code}")[-1].text


def test_rerecord_once_then_refused(chat: Chat, invited: tuple[str, str]) -> None:
    token, code = invited
    chat.start_interview("alex", "Alex Chen", token, code)
    first = chat.send("alex", "First try.")
    rr = first[0].button_data[0]
    replies = chat.send("alex", f"/press {rr}")
    assert "answer question 1 again" in replies[-2].text
    assert "Question 1 of 3" in replies[-1].text
    replies = chat.send("alex", "Second, better try.")
    assert replies[0].button_data == []  # no re-record left for question 1
    replies = chat.send("alex", f"/press {rr}")
    assert replies[-1].kind == "answer"
    assert replies[-1].alert
    answers = answers_of(chat, "alex")
    assert [(a.position, a.attempt, a.status) for a in answers] == [
        (0, 1, "superseded"),
        (0, 2, "received"),
    ]


def test_rerecord_of_an_older_answer_is_refused(chat: Chat, invited: tuple[str, str]) -> None:
    token, code = invited
    chat.start_interview("alex", "Alex Chen", token, code)
    rr = chat.send("alex", "Answer one.")[0].button_data[0]
    chat.send("alex", "Answer two.")
    replies = chat.send("alex", f"/press {rr}")
    assert replies[-1].alert
    assert "just gave" in replies[-1].text
    assert session_of(chat, "alex").question_index == 2


@pytest.mark.parametrize(
    ("step_inputs", "bad", "expected"),
    [
        ([], "/voice", "use the buttons"),
        ([], "hello there", "use the buttons"),
        (["/press lang:en"], "I agree!", "use the buttons"),
        (
            ["/press lang:en", "/press consent:yes", "/press sens:yes"],
            "STICKER",
            "only use text, voice notes or video notes",
        ),
        (
            ["/press lang:en", "/press consent:yes", "/press sens:yes"],
            "/press consent:yes",
            "use the buttons",
        ),
        (
            [
                "/press lang:en",
                "/press consent:yes",
                "/press sens:yes",
                "Alex Chen CODE",
                "/press practice:skip",
            ],
            "x" * 20000,
            "too long",
        ),
        (
            [
                "/press lang:en",
                "/press consent:yes",
                "/press sens:yes",
                "Alex Chen CODE",
                "/press practice:skip",
            ],
            "/dance",
            "don't know that command",
        ),
        (
            [
                "/press lang:en",
                "/press consent:yes",
                "/press sens:yes",
                "Alex Chen CODE",
                "/press practice:skip",
            ],
            "STICKER",
            "only use text",
        ),
        (
            [
                "/press lang:en",
                "/press consent:yes",
                "/press sens:yes",
                "Alex Chen CODE",
                "/press practice:skip",
            ],
            "LONGVOICE",
            "allows up to",
        ),
        (
            [
                "/press lang:en",
                "/press consent:yes",
                "/press sens:yes",
                "Alex Chen CODE",
                "/press practice:skip",
            ],
            "HUGEVOICE",
            "too large",
        ),
    ],
)
def test_out_of_place_input_gets_a_clear_reply_and_changes_nothing(
    chat: Chat, invited: tuple[str, str], step_inputs: list[str], bad: str, expected: str
) -> None:
    from dialogs.kernel.events import MediaRef, UnsupportedReceived, VoiceReceived

    token, code = invited
    chat.send("alex", f"/start {token}", lang="en")
    for line in step_inputs:
        chat.send("alex", line.replace("CODE", code))
    before = session_of(chat, "alex")
    before_answers = answers_of(chat, "alex")
    base = {
        "event_id": f"console:bad-{bad[:8]}",
        "platform": "console",
        "chat_id": "alex",
        "user_id": "alex",
    }
    if bad == "STICKER":
        replies = chat.deliver(UnsupportedReceived(**base, kind="sticker"))
    elif bad == "/voice":
        replies = chat.media("alex", b"OggS", duration=3)
    elif bad in ("LONGVOICE", "HUGEVOICE"):
        path, digest = chat.app.db.media.put(b"OggS", ".ogg")
        media = MediaRef(
            path=path,
            sha256=digest,
            duration_s=600 if bad == "LONGVOICE" else 5,
            size_bytes=50_000_000 if bad == "HUGEVOICE" else 10,
        )
        replies = chat.deliver(VoiceReceived(**base, media=media))
    else:
        replies = chat.send("alex", bad)
    assert any(expected in r.text for r in replies), [r.text for r in replies]
    after = session_of(chat, "alex")
    assert (after.state, after.question_index, after.identity_tries) == (
        before.state,
        before.question_index,
        before.identity_tries,
    )
    assert answers_of(chat, "alex") == before_answers


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_bad_links(chat: Chat, invited: tuple[str, str], clock: FakeClock, lang: str) -> None:
    token, code = invited
    assert ("not valid" if lang == "en" else "无效") in chat.send(
        "x", "/start nonsense-token", lang=lang
    )[-1].text
    chat.start_interview("alex", "Alex Chen", token, code)
    assert ("already been used" if lang == "en" else "已被他人使用") in chat.send(
        "mallory", f"/start {token}", lang=lang
    )[-1].text
    token2, _ = chat.invite("Late Person")
    clock.advance(days=15)
    assert ("expired" if lang == "en" else "已过期") in chat.send(
        "late", f"/start {token2}", lang=lang
    )[-1].text


def test_duplicate_event_changes_nothing_and_sends_nothing(
    chat: Chat, invited: tuple[str, str]
) -> None:
    token, code = invited
    chat.start_interview("alex", "Alex Chen", token, code)
    event = chat.event("alex", "My answer.", event_id="console:dup-1")
    first = chat.deliver(event)
    again = chat.deliver(event)
    assert first
    assert again == []
    assert len([a for a in answers_of(chat, "alex") if not a.practice]) == 1


def test_stop_and_resume_later(chat: Chat, invited: tuple[str, str], clock: FakeClock) -> None:
    token, code = invited
    chat.start_interview("alex", "Alex Chen", token, code)
    chat.send("alex", "Answer one.")
    assert "progress is saved" in chat.send("alex", "/pause")[-1].text
    clock.advance(days=2)
    replies = chat.send("alex", "/resume")
    assert "Question 2 of 3" in replies[-1].text
    replies = chat.send("alex", f"/start {token}")
    assert "Question 2 of 3" in replies[-1].text


def test_unknown_people_learn_nothing(chat: Chat, invited: tuple[str, str]) -> None:
    assert "invitation link" in chat.send("stranger", "hello", lang="en")[-1].text
    assert "邀请链接" in chat.send("stranger2", "你好")[-1].text
    assert "don't have access" in chat.send("stranger", "/progress sales", lang="en")[-1].text
    assert "don't have access" in chat.send("stranger", "/invite sales Bob", lang="en")[-1].text
    # in a group, a non-staff user gets no access and no candidate data
    replies = chat.send("stranger", "/progress sales", group="hr-room")
    assert len(replies) == 1
    assert "Alex" not in replies[0].text


def test_engine_failure_keeps_the_event_and_apologises(
    chat: Chat, invited: tuple[str, str]
) -> None:
    from dialogs.interview import flow as interview

    token, code = invited
    chat.start_interview("alex", "Alex Chen", token, code)
    original = interview._on_question

    def broken(ctx: object, s: object) -> None:
        raise RuntimeError("boom")

    interview._on_question = broken
    try:
        replies = chat.send("alex", "An answer that hits a bug.")
    finally:
        interview._on_question = original
    assert "Something went wrong" in replies[-1].text
    with chat.app.db.session() as session:
        failed = session.exec(select(InboxEvent).where(InboxEvent.status == "failed")).one()
        assert (failed.error or "").startswith(
            "RuntimeError at tests.dialogs.interview.test_interview:"
        )
    assert [a for a in answers_of(chat, "alex") if not a.practice] == []


def test_candidate_status_and_counts(chat: Chat, invited: tuple[str, str]) -> None:
    token, code = invited
    chat.start_interview("alex", "Alex Chen", token, code)
    with chat.app.db.session() as session:
        cand = session.exec(select(Candidate)).one()
        assert cand.status == "started"
        pending = session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
        ).one()
        assert pending == 0
    s = session_of(chat, "alex")
    assert s.started_at <= chat.app.services.clock.now() + dt.timedelta(seconds=1)
