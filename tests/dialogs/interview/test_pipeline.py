"""From stored answers to scores, reports, rankings and HR decisions."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import pytest
from sqlmodel import col, select

from app.wiring import App, build_app
from core.clock import FakeClock
from core.errors import ModelNotInstalledError
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from scoring.star import AnswerInput
from scoring.star import Evaluation as StarEvaluation
from storage.crypto import token_hash
from storage.models import (
    Answer,
    AuditEvent,
    Candidate,
    CandidateScore,
    Decision,
    Evaluation,
    Invitation,
    Job,
    Question,
)
from tests.fakes.speech import ScriptedTranscriber, silent_ogg, spoken_ogg
from tests.harness import Chat, RecordingMessenger

STRONG = (
    "Last year a key customer was about to cancel a contract because our deliveries were late. "
    "My task was to keep the account within two weeks. I called the client every day, arranged weekend shifts "
    "and offered a temporary replacement. As a result they renewed the contract worth 1.2 million and ordered 20% more."
)
WEAK = "I think customers are important and I always try my best."


@pytest.fixture
def transcriber() -> ScriptedTranscriber:
    return ScriptedTranscriber()


class RecordingEvaluator(StarEvaluator):
    """The real STAR evaluator on the fake backend, keeping what it was asked."""

    def __init__(self) -> None:
        super().__init__(FakeBackend())
        self.items: list[AnswerInput] = []

    def evaluate(self, item: AnswerInput) -> StarEvaluation:
        self.items.append(item)
        return super().evaluate(item)


@pytest.fixture
def evaluator() -> RecordingEvaluator:
    return RecordingEvaluator()


class RecordingChooser:
    """Picks the last hypothesis, or proposes ``invent``; keeps what it was shown."""

    name = "recording"

    def __init__(self) -> None:
        self.invent = ""
        self.missing = False  # the language model is not installed
        self.seen: list[tuple[list[str], str, list[str]]] = []

    def load(self) -> RecordingChooser:
        if self.missing:
            raise ModelNotInstalledError("no LLM here")
        return self

    def propose(
        self, hypotheses: Sequence[str], *, language: str, question: str, vocabulary: Sequence[str]
    ) -> str | None:
        self.seen.append((list(hypotheses), question, list(vocabulary)))
        return self.invent or hypotheses[-1]


@pytest.fixture
def chooser() -> RecordingChooser:
    return RecordingChooser()


@pytest.fixture
def app(
    settings: Settings,
    clock: FakeClock,
    messenger: RecordingMessenger,
    transcriber: ScriptedTranscriber,
    evaluator: RecordingEvaluator,
    chooser: RecordingChooser,
) -> Iterator[App]:
    application = build_app(
        settings,
        clock=clock,
        pipeline=Pipeline(
            transcriber=lambda: transcriber, evaluator=lambda: evaluator, chooser=chooser.load
        ),
    )
    application.channels["console"] = messenger
    yield application
    application.db.engine.dispose()


@pytest.fixture
def hr_chat(chat: Chat) -> Chat:
    chat.run_jobs = True
    chat.create_job()
    chat.send("admin", "/bind sales", group="hr-room")
    return chat


def interview(chat: Chat, user: str, name: str, answers: list[str], *, lang: str = "en") -> int:
    token, code = chat.invite(name)
    chat.start_interview(user, name, token, code, lang=lang)
    for answer in answers:
        chat.send(user, answer)
    chat.send(user, "/press submit")
    with chat.app.db.session() as session:
        return session.exec(
            select(Invitation.candidate_id).where(Invitation.token_hash == token_hash(token))
        ).one()


def hr_posts(chat: Chat) -> list[str]:
    return [d.text for d in chat.messenger.to("hr-room")]


def test_answers_are_scored_and_hr_gets_summary_report_and_ranking(hr_chat: Chat) -> None:
    strong = interview(hr_chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    weak = interview(hr_chat, "bob", "Bob Ray", [WEAK, WEAK, WEAK])
    posts = hr_posts(hr_chat)
    assert sum(p.startswith("🤖") for p in posts) == 6
    summaries = [d for d in hr_chat.messenger.to("hr-room") if d.text.startswith("📊")]
    assert len(summaries) == 2
    assert summaries[0].button_data == [
        f"dec:{strong}:a",
        f"dec:{strong}:n",
        f"dec:{strong}:r",
        f"dec:{strong}:d",
    ]
    assert "a person decides" in summaries[0].text.lower()
    reports = [
        d
        for d in hr_chat.messenger.to("hr-room")
        if d.kind == "file" and (d.filename or "").endswith(".pdf")
    ]
    assert len(reports) == 2
    assert reports[0].file_data is not None and reports[0].file_data.startswith(b"%PDF")
    ranking = [p for p in posts if p.startswith("🏆")][-1]
    assert ranking.index(f"#{strong} Ann Lee") < ranking.index(f"#{weak} Bob Ray")
    assert any(
        d.kind == "file" and (d.filename or "").endswith(".png")
        for d in hr_chat.messenger.to("hr-room")
    )
    with hr_chat.app.db.session() as session:
        scores = {s.candidate_id: s for s in session.exec(select(CandidateScore)).all()}
        assert (scores[strong].total or 0) > (scores[weak].total or 0)
        assert (
            session.exec(select(Decision).where(Decision.candidate_id == weak)).one().proposed
            == "reject"
        )
        evidence = session.exec(select(Evaluation).where(Evaluation.dimension == "result")).first()
        assert evidence is not None and evidence.evidence and evidence.model == "fake"


def test_first_valid_press_wins_and_others_are_refused(hr_chat: Chat) -> None:
    cid = interview(hr_chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    refused = hr_chat.send("viewer", f"/press dec:{cid}:a", group="hr-room")
    assert refused[-1].alert and "needs the HR manager role" in refused[-1].text
    refused = hr_chat.send("stranger", f"/press dec:{cid}:r", group="hr-room", lang="en")
    assert refused[-1].alert
    with hr_chat.app.db.session() as session:
        assert session.exec(select(Decision)).one().status == "pending"
    replies = hr_chat.send("hr", f"/press dec:{cid}:a", group="hr-room")
    edit = next(d for d in replies if d.kind == "edit")
    assert "Approved by console:hr" in edit.text
    assert any("Good news, Ann Lee" in d.text for d in hr_chat.messenger.to("ann"))
    late = hr_chat.send("admin", f"/press dec:{cid}:r", group="hr-room")
    assert late[-1].alert and "Already decided" in late[-1].text
    with hr_chat.app.db.session() as session:
        decision = session.exec(select(Decision)).one()
        assert (decision.outcome, decision.decided_by, decision.decided_in_chat) == (
            "approve",
            "console:hr",
            "console:hr-room",
        )
        assert session.get(Candidate, cid).status == "approved"  # type: ignore[union-attr]
        audits = session.exec(
            select(AuditEvent.action).where(
                col(AuditEvent.action).in_(["decision", "access_denied"])
            )
        ).all()
        assert sorted(audits) == ["access_denied", "access_denied", "decision"]


def test_two_hr_users_pressing_at_once_only_one_wins(hr_chat: Chat) -> None:
    import threading

    cid = interview(hr_chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    hr_chat.send("admin", "/grant console:hr2 hr_manager")
    results: list[object] = []
    events = [
        hr_chat.event(u, f"/press dec:{cid}:{a}", group="hr-room")
        for u, a in (("hr", "a"), ("hr2", "r"))
    ]
    threads = [
        threading.Thread(target=lambda e=e: results.append(hr_chat.app.engine.handle(e)))
        for e in events
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with hr_chat.app.db.session() as session:
        decision = session.exec(select(Decision)).one()
        assert decision.status == "decided"
        assert (
            len(session.exec(select(AuditEvent).where(AuditEvent.action == "decision")).all()) == 1
        )


@pytest.mark.parametrize(
    ("lang", "phrases"),
    [
        ("en", ["Thank you for your time", "Suggestions", "Customer focus"]),
        ("zh", ["感谢您", "建议", "客户导向"]),
    ],
)
def test_rejected_candidate_gets_kind_feedback_in_their_language(
    hr_chat: Chat, lang: str, phrases: list[str]
) -> None:
    cid = interview(hr_chat, "bob", "Bob Ray", [WEAK, WEAK, WEAK], lang=lang)
    hr_chat.send("hr", f"/decide {cid} reject", group="hr-room")
    feedback = hr_chat.messenger.to("bob")[-1].text
    for phrase in phrases:
        assert phrase in feedback
    assert "/100" in feedback


def test_auto_reject_only_when_the_job_says_so_and_review_can_be_asked(hr_chat: Chat) -> None:
    with hr_chat.app.db.transaction() as session:
        job = session.exec(select(Job)).one()
        job.auto_reject = True
        session.add(job)
    cid = interview(hr_chat, "bob", "Bob Ray", [WEAK, WEAK, WEAK])
    with hr_chat.app.db.session() as session:
        decision = session.exec(select(Decision).where(Decision.candidate_id == cid)).one()
        assert (decision.status, decision.outcome, decision.automatic) == (
            "decided",
            "reject",
            True,
        )
    assert "ask a person to review" in hr_chat.messenger.to("bob")[-1].text
    assert any("passed to the HR team" in r.text for r in hr_chat.send("bob", "/review"))
    assert "review the automatic decision" in hr_posts(hr_chat)[-1]


def test_voice_answer_is_transcribed_then_scored(
    hr_chat: Chat, transcriber: ScriptedTranscriber, evaluator: RecordingEvaluator
) -> None:
    transcriber.texts = [STRONG]
    token, code = hr_chat.invite("Ann Lee")
    hr_chat.start_interview("ann", "Ann Lee", token, code)
    hr_chat.media(
        "ann", spoken_ogg("I renewed the contract and sales grew twenty percent."), duration=4
    )
    with hr_chat.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.kind == "voice")).one()
    assert answer.status == "scored"
    assert answer.text == STRONG
    assert transcriber.calls == 1
    # The timed segments are kept beside the text (for the sentence splitter and HR).
    assert answer.segments is not None
    segments = json.loads(answer.segments)
    assert [s["text"] for s in segments] == [STRONG]
    assert segments[0]["start"] == 0.0 and segments[0]["end"] > 1.0
    # ... and handed to the evaluator, whose sentence splitter reads their pauses.
    assert evaluator.items[-1].segments == segments
    assert answer.speech_backend == "fake-whisper"
    # The vocabulary prompt is off by default (it cost Whisper base accuracy, bench asr).
    assert transcriber.vocabulary == []


def test_vocabulary_prompt_passes_question_and_job_title_when_on(
    hr_chat: Chat, transcriber: ScriptedTranscriber, settings: Settings
) -> None:
    settings.speech.vocabulary_prompt = True
    transcriber.texts = [STRONG]
    token, code = hr_chat.invite("Ann Lee")
    hr_chat.start_interview("ann", "Ann Lee", token, code)
    hr_chat.media("ann", spoken_ogg("I renewed the contract."), duration=4)
    with hr_chat.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.kind == "voice")).one()
        job = session.exec(select(Job)).one()
        question = session.get(Question, answer.question_id)
    assert question is not None and question.text_en in transcriber.vocabulary
    assert job.title_en in transcriber.vocabulary
    assert all(term and term not in STRONG for term in transcriber.vocabulary)


@pytest.mark.postgres_subset.with_args(lambda params: False)
@pytest.mark.parametrize("invent", ["", "I renewed the contract worth ten million dollars."])
def test_nbest_hypotheses_are_chosen_in_context_and_kept_for_hr(
    hr_chat: Chat,
    transcriber: ScriptedTranscriber,
    chooser: RecordingChooser,
    settings: Settings,
    invent: str,
) -> None:
    settings.speech.nbest = 2
    chooser.invent = invent
    top, other = "I renewed the contact.", "I renewed the contract."
    transcriber.texts, transcriber.alternatives = [top], [other]
    token, code = hr_chat.invite("Ann Lee")
    hr_chat.start_interview("ann", "Ann Lee", token, code)
    hr_chat.media("ann", spoken_ogg("I renewed the contract."), duration=4)
    with hr_chat.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.kind == "voice")).one()
        job = session.exec(select(Job)).one()
    (hypotheses, asked, words), *_ = chooser.seen
    assert hypotheses == [top, other]
    assert asked == answer.question_text and job.title_en in words
    assert transcriber.vocabulary == []  # the decoder prompt stays off
    assert answer.segments is not None
    (segment,) = json.loads(answer.segments)
    if invent:  # supported by no hypothesis: the decoder's best stays
        assert answer.text == top
        assert [a["text"] for a in segment["alternatives"]] == [other]
    else:
        assert answer.text == other
        assert [a["text"] for a in segment["alternatives"]] == [top]


@pytest.mark.postgres_subset.with_args(lambda params: False)
def test_nbest_without_a_language_model_keeps_the_top_beam(
    hr_chat: Chat, transcriber: ScriptedTranscriber, chooser: RecordingChooser, settings: Settings
) -> None:
    settings.speech.nbest = 2
    chooser.missing = True
    transcriber.texts, transcriber.alternatives = [STRONG], ["I renewed the contract."]
    token, code = hr_chat.invite("Ann Lee")
    hr_chat.start_interview("ann", "Ann Lee", token, code)
    hr_chat.media("ann", spoken_ogg("I renewed the contract."), duration=4)
    with hr_chat.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.kind == "voice")).one()
    assert answer.status == "scored" and answer.text == STRONG


@pytest.mark.postgres_subset.with_args(lambda params: False)
def test_nbest_off_by_default_never_asks_the_chooser(
    hr_chat: Chat, transcriber: ScriptedTranscriber, chooser: RecordingChooser
) -> None:
    transcriber.texts, transcriber.alternatives = [STRONG], ["I renewed the contract."]
    token, code = hr_chat.invite("Ann Lee")
    hr_chat.start_interview("ann", "Ann Lee", token, code)
    hr_chat.media("ann", spoken_ogg("I renewed the contract."), duration=4)
    with hr_chat.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.kind == "voice")).one()
    assert answer.text == STRONG and chooser.seen == []


def test_unclear_voice_answer_asks_for_a_rerecord_and_flags_hr(
    hr_chat: Chat, transcriber: ScriptedTranscriber
) -> None:
    token, code = hr_chat.invite("Ann Lee")
    hr_chat.start_interview("ann", "Ann Lee", token, code)
    replies = hr_chat.media("ann", silent_ogg(), duration=4)
    texts = [r.text for r in replies if r.chat_id == "ann"]
    assert any("couldn't use your answer to question 1" in t and "silent" in t for t in texts)
    assert any("record your answer to question 1 again" in t for t in texts)
    assert transcriber.calls == 0  # garbage is never transcribed into content
    assert any("unclear" in p for p in hr_posts(hr_chat))
    # the next answer re-answers question 1, then the remaining questions follow
    assert "Question 2 of 4" in texts[-1]
    assert (
        "Question 3 of 4" in [r for r in hr_chat.send("ann", STRONG) if r.chat_id == "ann"][-1].text
    )
    with hr_chat.app.db.session() as session:
        statuses = [
            a.status
            for a in session.exec(
                select(Answer).where(col(Answer.practice).is_(False)).order_by(col(Answer.id))
            ).all()
        ]
    assert statuses[0] == "superseded"


def test_corrupt_file_is_a_stored_failure_with_a_clear_reply(hr_chat: Chat) -> None:
    token, code = hr_chat.invite("Ann Lee")
    hr_chat.start_interview("ann", "Ann Lee", token, code)
    replies = hr_chat.media("ann", b"\x89PNG\r\n\x1a\n" + b"\0" * 400, duration=4, name="x.ogg")
    assert any("not a recording" in r.text for r in replies if r.chat_id == "ann")
    with hr_chat.app.db.session() as session:
        failed = session.exec(select(Answer).where(Answer.quality_reason == "wrong_type")).one()
        assert failed.status == "failed"
        assert failed.media_path and hr_chat.app.db.media.exists(failed.media_path)  # media kept
