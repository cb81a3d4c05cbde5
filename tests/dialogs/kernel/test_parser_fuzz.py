"""Random events, texts and button data through the engine: nothing escapes, state stays sane.

Hypothesis drives candidates (mid-interview, freshly invited, strangers) and staff, in
private chats and the HR group, with random texts, commands, arguments, button data,
media references and invitation scenes. After every event: the engine returned normally,
no event ended ``failed`` (an exception inside a flow), every interview is in a known
state with its question index inside its plan, and every outbox row is a valid intent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from app.features import FEATURES
from app.wiring import App, build_app
from core.clock import FakeClock
from dialogs.contracting import flow as contract_flow
from dialogs.interview.pipeline import Pipeline
from dialogs.interview.plan import interview_plan
from dialogs.kernel.events import (
    ButtonPressed,
    CommandReceived,
    Event,
    FileReceived,
    MediaRef,
    MediaRejected,
    SubscribeReceived,
    TextReceived,
    UnsupportedReceived,
    VideoReceived,
    VoiceReceived,
)
from dialogs.kernel.intents import parse_intent
from dialogs.kernel.registry import Registry
from scoring.evaluator import FakeBackend, StarEvaluator
from storage.models import InboxEvent, InterviewSession, OutboxMessage
from tests.conftest import make_settings
from tests.fakes.speech import ScriptedTranscriber
from tests.harness import Chat, RecordingMessenger

STATES = {
    "language",
    "consent",
    "sensitive",
    "identity",
    "practice",
    "question",
    "review",
    "schedule",
    "done",
    "declined",
    "locked",
} | set(contract_flow.CANDIDATE_STATES)
USERS = ["cand", "cand2", "fresh", "stranger", "hr", "viewer", "admin"]
REGISTRY = Registry(FEATURES)

CANDIDATE_WORDS = [
    "start",
    "help",
    "resume",
    "pause",
    "language",
    "review",
    "mydata",
    "deleteme",
]


@dataclass
class World:
    app: App
    tokens: list[str]
    codes: list[str]
    media: list[str]
    counter: int = 0

    def __repr__(self) -> str:
        return "World(app)"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("parser-fuzz")
    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    app = build_app(
        make_settings(tmp),
        clock=FakeClock(),
        pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator),
    )
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    chat = Chat(app, messenger)
    chat.languages.update({"admin": "en", "hr": "en", "viewer": "en"})
    chat.create_job()
    chat.send("admin", "/bind sales", group="hrg")
    first = chat.invite("Li Lei")
    chat.start_interview("cand", "Li Lei", *first)
    second = chat.invite("Wang Fang")
    chat.send("cand2", f"/start {second[0]}", lang="zh")
    fresh = chat.invite("Zoe Park")
    stored, _digest = app.db.media.put(b"OggS fuzz voice", ".ogg")
    csv, _digest = app.db.media.put(b"name,phone\nAnn,13912345678\n", ".csv")
    yield World(
        app,
        tokens=[first[0], second[0], fresh[0]],
        codes=[first[1], second[1], fresh[1]],
        media=[stored, csv],
    )
    app.db.engine.dispose()


def button_data(prefixes: list[str]) -> st.SearchStrategy[str]:
    known = st.builds(
        lambda p, rest: f"{p}:{rest}"[:64],
        st.sampled_from(prefixes),
        st.one_of(st.text(max_size=20), st.integers(-5, 10**12).map(str)),
    )
    return st.one_of(known, st.text(max_size=64))


@st.composite
def events(draw: st.DrawFn, w: World) -> Event:
    w.counter += 1
    user = draw(st.sampled_from(USERS))
    group = draw(st.sampled_from([None, None, "hrg"]))
    base: dict[str, Any] = {
        "event_id": f"console:fuzz:{w.counter}",
        "platform": "console",
        "chat_id": group or user,
        "user_id": user,
        "user_name": draw(st.text(max_size=20)),
        "language_hint": draw(st.sampled_from([None, "en", "zh-hans", "fr", ""])),
        "is_group": group is not None,
    }
    media = st.builds(
        MediaRef,
        platform_file_id=st.text(max_size=10),
        size_bytes=st.none() | st.integers(-1, 10**10),
        duration_s=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        mime_type=st.none() | st.text(max_size=20),
        path=st.sampled_from(w.media),
        sha256=st.none() | st.text(max_size=64),
    )
    secrets = [*w.tokens, *w.codes]
    text = st.one_of(
        st.text(max_size=400),
        st.sampled_from(["中文", "English", "Li Lei " + w.codes[0], "Wang Fang 000000"]),
        st.sampled_from(secrets),
        st.just("x" * 5000),
    )
    commands = st.one_of(
        st.sampled_from(CANDIDATE_WORDS + sorted(REGISTRY.commands) + ["newjob", "invite"]),
        st.text(min_size=1, max_size=12).map(str.lower),
    )
    args = st.one_of(st.text(max_size=80), st.sampled_from(secrets), st.just("sales"))
    prefixes = [*REGISTRY.buttons, "lang", "consent", "sens", "practice", "rr", "submit"]
    kind = draw(st.integers(0, 9))
    if kind <= 2:
        return TextReceived(**base, text=draw(text))
    if kind == 3:
        return CommandReceived(**base, command=draw(commands), args=draw(args))
    if kind == 4:
        return ButtonPressed(
            **base,
            data=draw(button_data(prefixes)),
            callback_id=draw(st.none() | st.text(max_size=8)),
        )
    if kind == 5:
        if draw(st.booleans()):
            return VoiceReceived(**base, media=draw(media))
        return VideoReceived(**base, media=draw(media))
    if kind == 6:
        return MediaRejected(
            **base,
            reason=draw(
                st.sampled_from(["too_large", "too_long", "wrong_type", "download_failed"])
            ),
            media=draw(media),
        )
    if kind == 7:
        return SubscribeReceived(
            **base, scene=draw(st.one_of(st.text(max_size=70), st.sampled_from(w.tokens)))
        )
    if kind == 8:
        return FileReceived(**base, media=draw(media), caption=draw(args))
    return UnsupportedReceived(**base, kind=draw(st.text(max_size=10)))


def check_consistent(app: App) -> None:
    with app.db.session() as session:
        failed = session.exec(select(InboxEvent).where(InboxEvent.status == "failed")).all()
        assert not failed, [f.error for f in failed]
        for s in session.exec(select(InterviewSession)).all():
            assert s.state in STATES, s.state
            plan = interview_plan(session, s)
            assert 0 <= s.question_index <= len(plan), (s.state, s.question_index, len(plan))
        for row in session.exec(select(OutboxMessage)).all():
            intent = parse_intent(row.payload)
            for line in getattr(intent, "buttons", []):
                for button in line:
                    assert len(button.data.encode()) <= 64


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_random_events_never_escape_and_keep_state_consistent(
    world: World, data: st.DataObject
) -> None:
    for _ in range(data.draw(st.integers(1, 4))):
        event = data.draw(events(world))
        intents = world.app.engine.handle(event)
        assert isinstance(intents, list)
        assert world.app.engine.handle(event) == []  # the same id again: a duplicate
    check_consistent(world.app)
