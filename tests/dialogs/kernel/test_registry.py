"""Features are values in one list: a toy feature plugs in with one package and one line,
and the registry refuses two features that claim the same name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from app.features import FEATURES
from app.wiring import App, build_app
from core.clock import FakeClock
from core.settings import Settings
from dialogs.kernel.access import Access
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived
from dialogs.kernel.feature import ButtonEntry, Command, Dialog, Feature
from dialogs.kernel.registry import FeatureError, Registry
from dialogs.kernel.worker import JobContext
from storage import queue
from storage.models import BackgroundJob, InterviewSession
from tests.harness import Chat, RecordingMessenger


# ------------------------------------------------------------------ a toy feature
def _hello(ctx: Ctx, event: CommandReceived) -> None:
    ctx.say(f"hello, {event.args or 'world'}", buttons=None)
    ctx.enqueue("toy_count", {"chat_id": event.chat_id})


def _pressed(ctx: Ctx) -> None:
    ctx.answer_button("toy pressed")


def _count(job: BackgroundJob, ctx: JobContext, /) -> None:
    ran.append(str(job.payload["chat_id"]))


ran: list[str] = []

TOY = Feature(
    "toy",
    commands={"hello": Command(Access("view", "any"), _hello)},
    buttons={"toy": ButtonEntry(Access("view", "any"), _pressed)},
    jobs={"toy_count": _count},
)


@pytest.fixture
def toy_app(settings: Settings, messenger: RecordingMessenger) -> Iterator[App]:
    application = build_app(settings, clock=FakeClock(), features=(*FEATURES, TOY))
    application.channels["console"] = messenger
    yield application
    application.db.engine.dispose()


def test_a_toy_feature_is_one_value_and_one_line_in_the_list(
    toy_app: App, messenger: RecordingMessenger
) -> None:
    ran.clear()
    chat = Chat(toy_app, messenger, run_jobs=True)
    chat.languages["hr"] = "en"
    replies = chat.send("hr", "/hello team")
    assert [r.text for r in replies] == ["hello, team"]
    assert ran == ["hr"]  # its background job ran through the worker
    pressed = chat.send("hr", "/press toy:1")
    assert [r.text for r in pressed if r.text] == ["toy pressed"]
    # the product's own commands still answer beside it
    assert chat.send("hr", "/jobs")


def test_without_the_toy_its_command_is_unknown(chat: Chat) -> None:
    assert [r.text for r in chat.send("hr", "/hello")] == [t("en", "common.unknown_command")]


# ------------------------------------------------------------------ refusals
def _noop(ctx: Ctx, event: CommandReceived) -> None:
    return None


def _step(ctx: Ctx, s: InterviewSession) -> None:
    return None


@pytest.mark.parametrize(
    ("other", "says"),
    [
        (Feature("clash", commands={"jobs": Command(Access("view", "any"), _noop)}), "command"),
        (Feature("clash", buttons={"dec": ButtonEntry(Access("view", "any"), _pressed)}), "button"),
        (Feature("clash", jobs={"finalize": _count}), "job kind"),
        (Feature("clash", dialogs={"newjob": Dialog(None, lambda c, s: None)}), "dialog"),
        (Feature("clash", candidate_states={"details_id": _step}), "candidate state"),
        (Feature("clash", post_buttons={"hr.started": lambda lang, v: []}), "HR-post key"),
    ],
)
def test_two_features_cannot_claim_the_same_name(other: Feature, says: str) -> None:
    with pytest.raises(FeatureError, match=f"{says} .* is declared by both .* and clash"):
        Registry((*FEATURES, other))


@pytest.mark.parametrize(
    "bad",
    [
        Feature("bad", commands={"Hello-World": Command(Access("view", "any"), _noop)}),
        Feature("bad", buttons={"has:colon": ButtonEntry(Access("view", "any"), _pressed)}),
        Feature("bad", jobs={"Kind With Spaces": _count}),
        Feature("Bad Name"),
    ],
)
def test_names_a_platform_or_the_queue_would_refuse_are_refused(bad: Feature) -> None:
    with pytest.raises(FeatureError, match="not a valid name"):
        Registry((*FEATURES, bad))


def test_a_feature_listed_twice_is_refused() -> None:
    with pytest.raises(FeatureError, match="listed twice"):
        Registry((*FEATURES, FEATURES[0]))


def test_the_app_refuses_a_job_kind_the_pipeline_also_declares(
    settings: Settings, tmp_path: Path
) -> None:
    clash = Feature("clash", jobs={"transcribe": _count})
    with pytest.raises(FeatureError, match="job kind 'transcribe' is declared by both"):
        build_app(settings, clock=FakeClock(), features=(*FEATURES, clash))


def test_declarations_cannot_be_changed_after_the_fact() -> None:
    with pytest.raises(TypeError):
        TOY.commands["evil"] = Command(Access("view", "any"), _noop)  # type: ignore[index]


def test_at_start_up_jobs_no_handler_takes_are_failed_with_the_reason(app: App) -> None:
    with app.db.transaction() as session:
        queue.enqueue(session, "retired_kind", {}, now=app.services.clock.now())
        queue.enqueue(session, "rank", {"job_id": 1}, now=app.services.clock.now())
    worker = app.worker()
    assert worker.unhandled() == {"retired_kind": 1}
    assert worker.reject_unhandled() == {"retired_kind": 1}
    with app.db.session() as session:
        jobs = {j.kind: j for j in session.exec(select(BackgroundJob)).all()}
    assert jobs["retired_kind"].status == "failed"
    assert jobs["retired_kind"].error == "no handler for this job kind"
    assert jobs["rank"].status == "pending"  # a kind a feature declares waits its turn
    assert worker.unhandled() == {}
    # once a handler exists (the feature is listed again), an admin retries it
    assert queue.retry(app.db, jobs["retired_kind"].id or 0, clock=app.services.clock)
