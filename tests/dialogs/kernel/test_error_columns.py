"""Error columns keep the error's type and a safe message, never the user's words.

An exception's text can quote what a user sent (a YAML source line, a file name, a
name and phone number): ``inboxevent.error``, ``backgroundjob.error`` and the outbox's
``last_error`` keep :func:`core.errors.describe_error` instead.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.wiring import App
from core.errors import TranscriptionError
from dialogs.interview import flow as interview
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.worker import JobContext, Worker
from storage import queue
from storage.models import BackgroundJob, InboxEvent, InterviewSession
from tests.harness import Chat

PHONE = "13912345678"


def test_a_failing_event_leaves_no_user_text_in_the_inbox(
    app: App, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat.create_job()
    token, code = chat.invite("Li Lei")
    chat.start_interview("lilei", "Li Lei", token, code)

    def broken(ctx: Ctx, _s: InterviewSession) -> None:
        # e.g. a parser quoting its input (a YAML source line was seen in this column)
        raise ValueError(f"cannot read {getattr(ctx.event, 'text', '')!r}")

    monkeypatch.setattr(interview, "_on_question", broken)
    replies = chat.send("lilei", f"Call me, Li Lei, on {PHONE}")

    assert replies[-1].text == t("en", "common.error")
    with app.db.session() as session:
        failed = session.exec(select(InboxEvent).where(InboxEvent.status == "failed")).one()
    assert failed.error is not None
    assert failed.error.startswith("ValueError at tests.dialogs.kernel.test_error_columns:")
    assert PHONE not in failed.error and "Li Lei" not in failed.error


def run_job(app: App, exc: Exception) -> BackgroundJob:
    def handler(_job: BackgroundJob, _ctx: JobContext) -> None:
        raise exc

    with app.db.transaction() as session:
        job = queue.enqueue(session, "boom", {}, now=app.services.clock.now())
    Worker(app.db, app.services, {"boom": handler}).run_one()
    with app.db.session() as session:
        stored = session.get(BackgroundJob, job.id)
    assert stored is not None
    return stored


def test_a_failed_job_keeps_the_type_and_place_not_the_message(app: App) -> None:
    job = run_job(app, ValueError(f"cannot parse row: Zhang Wei {PHONE}"))

    assert job.status == "pending" and job.error is not None
    assert job.error.startswith("ValueError at tests.dialogs.kernel.test_error_columns:")
    assert PHONE not in job.error and "Zhang" not in job.error


def test_the_projects_errors_keep_their_safe_message(app: App) -> None:
    job = run_job(app, TranscriptionError("too_long", f"Zhang Wei {PHONE} spoke for 20 min"))

    assert job.error == "TranscriptionError: too_long"
