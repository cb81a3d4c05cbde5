"""A coding question end to end on the console channel: asked with its examples and
starter code, answered as a message or a file, judged in the real sandbox by the
``code`` job, and shown to HR (group post, composite, PDF report)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from sqlmodel import select

from app.wiring import App, build_app
from coding.bwrap import BwrapSandbox
from coding.sandbox import SandboxUnavailable
from core.clock import FakeClock
from core.errors import ModelNotInstalledError
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from storage.crypto import token_hash
from storage.models import Answer, BackgroundJob, CandidateScore, Evaluation, Invitation
from tests.fakes.speech import ScriptedTranscriber
from tests.harness import Chat, Delivered, RecordingMessenger

SIEVE = """n = int(input())
if n < 2:
    print(0)
else:
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, n + 1, i)))
    print(sum(sieve))
"""
STRONG = (
    "Last year I had to explain our database migration to the sales team. My task was to "
    "make them understand the downtime. I drew a timeline and used a moving-house analogy, "
    "then asked them to explain it back. As a result they told customers correctly and no "
    "complaints came in."
)


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    try:
        return BwrapSandbox()
    except SandboxUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(f"the sandbox needs root: {exc}")
        raise


@pytest.fixture
def reviewer() -> FakeBackend:
    return FakeBackend(replies=['{"readability": 4, "comment": "Clear names, one loop."}'])


@pytest.fixture
def app(
    settings: Settings,
    clock: FakeClock,
    messenger: RecordingMessenger,
    sandbox: BwrapSandbox,
    reviewer: FakeBackend,
) -> Iterator[App]:
    evaluator = StarEvaluator(FakeBackend())
    transcriber = ScriptedTranscriber()
    application = build_app(
        settings,
        clock=clock,
        pipeline=Pipeline(
            transcriber=lambda: transcriber,
            evaluator=lambda: evaluator,
            sandbox=lambda: sandbox,
            reviewer=lambda: reviewer,
        ),
    )
    application.channels["console"] = messenger
    yield application
    application.db.engine.dispose()


@pytest.fixture
def hr_chat(chat: Chat) -> Chat:
    chat.run_jobs = True
    for line in [
        "/newjob",
        "dev",
        "开发工程师",
        "Developer",
        "python_skills 60, communication 40",
        "50",
        "python_skills-code-01, communication-01",
    ]:
        chat.send("admin", line)
    chat.send("admin", "/bind dev", group="hr-room")
    return chat


def start(chat: Chat, user: str, name: str) -> tuple[int, str]:
    token, code = chat.invite(name, code="dev")
    replies = chat.start_interview(user, name, token, code, lang="en", voice=False)
    with chat.app.db.session() as session:
        cid = session.exec(
            select(Invitation.candidate_id).where(Invitation.token_hash == token_hash(token))
        ).one()
    return cid, replies[-1].text


def test_a_coding_answer_is_judged_and_hr_sees_the_verdicts(hr_chat: Chat) -> None:
    cid, question = start(hr_chat, "ann", "Ann Lee")
    assert "Coding: read an integer n" in question
    assert "Example input:\n10\nExpected output:\n4" in question
    assert "Starter code:\nn = int(input())" in question
    assert "send it as a message or as a file" in question
    replies = hr_chat.send("ann", f"```python\n{SIEVE}```")
    assert "Answer 1 received" in to(replies, "ann")[0]
    hr_chat.send("ann", STRONG)
    hr_chat.send("ann", "/press submit")
    posts = [d.text for d in hr_chat.messenger.to("hr-room")]
    judged = next(p for p in posts if p.startswith("💻"))
    assert f"Candidate #{cid}, answer 1 (code): accepted; 7/7 tests passed" in judged
    assert "• two-million (hidden): accepted" in judged
    assert "Readability (AI, advisory): 4/5 — Clear names, one loop." in judged
    with hr_chat.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.kind == "code")).one()
        assert answer.status == "scored"
        assert answer.text is not None and answer.text.startswith("n = int(input())")
        total = session.exec(
            select(Evaluation).where(
                Evaluation.answer_id == answer.id, Evaluation.dimension == "total"
            )
        ).one()
        coding = total.details["coding"]
        assert coding["correctness"] == 100.0
        assert coding["efficiency"] is not None and coding["efficiency"] > 0
        assert total.score == coding["score"] >= 80
        job = session.exec(select(BackgroundJob).where(BackgroundJob.kind == "code")).one()
        assert job.status == "done"
        score = session.exec(select(CandidateScore).where(CandidateScore.candidate_id == cid)).one()
        assert score.total is not None
    report = next(d for d in hr_chat.messenger.to("hr-room") if (d.filename or "").endswith(".pdf"))
    assert report.file_data is not None
    text = pdf_text(report.file_data)
    assert "编程题" in text  # the report is in the service's default language
    assert "two-million" in text and "通过" in text
    assert "sieve[0] = sieve[1] = 0" in text


def test_code_sent_as_a_file_and_a_wrong_answer(hr_chat: Chat) -> None:
    cid, _ = start(hr_chat, "bob", "Bob Ray")
    replies = hr_chat.media("bob", b"print(4)\n", kind="file", name="solution.py")
    assert "Answer 1 received" in to(replies, "bob")[0]
    refused = hr_chat.media("bob", b"print(4)\n", kind="file", name="again.py")
    assert "wasn't expecting a file" in to(refused, "bob")[0]  # question 2 takes text
    hr_chat.send("bob", STRONG)
    hr_chat.send("bob", "/press submit")
    judged = next(d.text for d in hr_chat.messenger.to("hr-room") if d.text.startswith("💻"))
    assert f"Candidate #{cid}, answer 1 (code): wrong answer; 1/7 tests passed" in judged
    assert "correctness 0" in judged


def test_a_voice_note_or_an_unreadable_file_is_refused_for_a_coding_question(
    hr_chat: Chat,
) -> None:
    start(hr_chat, "cy", "Cy Doe")
    refused = hr_chat.media("cy", b"\xff\xfe\x00binary", kind="file", name="x.bin")
    assert "couldn't read that file as text" in to(refused, "cy")[0]
    refused = hr_chat.media("cy", b"OggS", kind="voice", name="a.ogg")
    assert "please send it as a message or as a file" in to(refused, "cy")[0]
    with hr_chat.app.db.session() as session:
        assert session.exec(select(Answer)).all() == []


def to(replies: list[Delivered], chat: str) -> list[str]:
    return [d.text for d in replies if d.chat_id == chat]


def pdf_text(data: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


def test_the_built_in_coding_questions_pass_their_own_reference(sandbox: BwrapSandbox) -> None:
    from coding.judge import judge
    from dialogs.jobs.question_bank import load_builtin

    coding = [q for _, qs in [load_builtin()] for q in qs if q.coding]
    assert len(coding) >= 3
    for question in coding:
        assert question.coding is not None
        assert question.coding.reference
        report = judge(sandbox, question.coding.reference, question.coding.suite())
        assert report.verdict == "accepted", (question.key, report.as_json())
        assert judge(sandbox, question.coding.starter, question.coding.suite()).verdict != (
            "accepted"
        )


def test_without_a_sandbox_the_code_job_fails_visibly_and_scores_nothing(
    settings: Settings, clock: FakeClock, messenger: RecordingMessenger
) -> None:
    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    application = build_app(
        settings,
        clock=clock,
        pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator),
    )
    application.channels["console"] = messenger
    try:
        chat = Chat(application, messenger, run_jobs=True)
        chat.languages.update({"admin": "en", "hr": "en"})
        for line in ["/newjob", "dev", "开发", "Developer", "python_skills 100", "50"]:
            chat.send("admin", line)
        chat.send("admin", "python_skills-code-02")
        start(chat, "dan", "Dan Poe")
        chat.send("dan", "def is_palindrome(s):\n    return True\n")
        with application.db.session() as session:
            job = session.exec(select(BackgroundJob).where(BackgroundJob.kind == "code")).one()
            assert job.status in {"failed", "pending"} and "sandbox" in (job.error or "")
            answer = session.exec(select(Answer)).one()
            assert answer.status == "received"
            assert session.exec(select(Evaluation)).all() == []
    finally:
        application.db.engine.dispose()


def test_without_a_review_model_the_code_is_still_scored(
    settings: Settings, clock: FakeClock, messenger: RecordingMessenger, sandbox: BwrapSandbox
) -> None:
    def no_model() -> FakeBackend:
        raise ModelNotInstalledError("llm")

    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    application = build_app(
        settings,
        clock=clock,
        pipeline=Pipeline(
            transcriber=lambda: transcriber,
            evaluator=lambda: evaluator,
            sandbox=lambda: sandbox,
            reviewer=no_model,
        ),
    )
    application.channels["console"] = messenger
    try:
        chat = Chat(application, messenger, run_jobs=True)
        chat.languages.update({"admin": "en", "hr": "en"})
        for line in ["/newjob", "dev", "开发", "Developer", "python_skills 100", "50"]:
            chat.send("admin", line)
        chat.send("admin", "python_skills-code-02")
        start(chat, "eve", "Eve Moe")
        chat.send(
            "eve",
            "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]\n",
        )
        with application.db.session() as session:
            total = session.exec(select(Evaluation).where(Evaluation.dimension == "total")).one()
            coding = total.details["coding"]
            assert coding["verdict"] == "accepted" and total.score == 100.0
            assert coding["readability"] is None
            assert coding["review_error"] == "no model for the review: ModelNotInstalledError"
    finally:
        application.db.engine.dispose()


def test_code_jobs_run_on_their_own_queue(hr_chat: Chat) -> None:
    start(hr_chat, "fay", "Fay Lu")
    hr_chat.run_jobs = False
    hr_chat.send("fay", SIEVE)
    app = hr_chat.app
    main = app.worker(exclude={"code"})
    assert "code" not in main.handlers and main.unhandled() == {}
    assert main.reject_unhandled() == {}
    main.drain()
    code = app.worker({"code"})
    assert set(code.handlers) == {"code"} and code.unhandled() == {}
    with app.db.session() as session:
        job = session.exec(select(BackgroundJob).where(BackgroundJob.kind == "code")).one()
        assert job.status == "pending"  # the main worker left it alone
    assert code.drain() == 1
    with app.db.session() as session:
        job = session.exec(select(BackgroundJob).where(BackgroundJob.kind == "code")).one()
        assert job.status == "done"
