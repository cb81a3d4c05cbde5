"""Shared set-up for the HR-in-the-loop tests: an app whose jobs run with fakes, interviews."""

from __future__ import annotations

from sqlmodel import select

from app.wiring import App, build_app
from core.clock import FakeClock
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from storage.crypto import token_hash
from storage.models import InterviewSession, Invitation
from tests.fakes.speech import ScriptedTranscriber
from tests.harness import Chat, Delivered, RecordingMessenger

STRONG = (
    "Last year a key customer was about to cancel a contract because our deliveries were late. "
    "My task was to keep the account within two weeks. I called the client every day, arranged "
    "weekend shifts and offered a temporary replacement. As a result they renewed the contract "
    "worth 1.2 million and ordered 20% more."
)
WEAK = "I think customers are important and I always try my best."
GROUP = "hr-room"


def pipeline_app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> App:
    """An app whose transcribe/evaluate jobs use a scripted transcriber and the fake LLM."""
    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    application = build_app(
        settings,
        clock=clock,
        pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator),
    )
    application.channels["console"] = messenger
    return application


def setup_job(chat: Chat) -> None:
    """Job "sales" (3 questions) bound to the HR group; background jobs run after each send."""
    chat.run_jobs = True
    chat.create_job()
    chat.send("admin", "/bind sales", group=GROUP)


def begin(chat: Chat, user: str, name: str, *, lang: str = "en") -> int:
    """Invite and start an interview up to question 1; returns the candidate id."""
    token, code = chat.invite(name)
    chat.start_interview(user, name, token, code, lang=lang)
    with chat.app.db.session() as session:
        return session.exec(
            select(Invitation.candidate_id).where(Invitation.token_hash == token_hash(token))
        ).one()


def interview(chat: Chat, user: str, name: str, answers: list[str], *, lang: str = "en") -> int:
    """A whole interview, submitted; returns the candidate id."""
    cid = begin(chat, user, name, lang=lang)
    for answer in answers:
        chat.send(user, answer)
    chat.send(user, "/press submit")
    return cid


def session_of(chat: Chat, candidate_id: int) -> InterviewSession:
    with chat.app.db.session() as session:
        return session.exec(
            select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
        ).one()


def texts(replies: list[Delivered], chat_id: str) -> list[str]:
    return [d.text for d in replies if d.chat_id == chat_id]
