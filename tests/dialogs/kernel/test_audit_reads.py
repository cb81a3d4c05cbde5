"""Every read of a candidate's report or ranking, and every decision, is in the audit log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from app.wiring import App
from core.clock import FakeClock
from core.settings import Settings
from storage.models import AuditEvent
from tests.dialogs.hr_helpers import GROUP, STRONG, WEAK, interview, pipeline_app, setup_job
from tests.harness import Chat, RecordingMessenger


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = pipeline_app(settings, clock, messenger)
    yield application
    application.db.engine.dispose()


def audit(app: App) -> list[tuple[str, str, str]]:
    with app.db.session() as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    return [(e.actor, e.action, e.subject) for e in rows]


def test_reports_rankings_progress_and_decisions_are_audited(app: App, chat: Chat) -> None:
    setup_job(chat)
    ann = interview(chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    bob = interview(chat, "bob", "Bob Ray", [WEAK, WEAK, WEAK])
    log = audit(app)
    # The automatic posts to the HR group are disclosures too.
    assert ("system", "report_sent", f"candidate:{ann}") in log
    assert ("system", "report_sent", f"candidate:{bob}") in log
    assert any(action == "ranking_sent" for _a, action, _s in log)

    chat.send("viewer", f"/report {ann}", group=GROUP)
    chat.send("viewer", f"/press dec:{bob}:d", group=GROUP)
    chat.send("viewer", "/ranking sales", group=GROUP)
    chat.send("viewer", "/progress sales", group=GROUP)
    chat.send("viewer", f"/press dec:{ann}:a", group=GROUP)  # refused: viewers do not decide
    chat.send("hr", f"/press dec:{ann}:a", group=GROUP)
    chat.send("hr", f"/decide {bob} reject", group=GROUP)
    new = audit(app)[len(log) :]
    assert ("console:viewer", "report_read", f"candidate:{ann}") in new
    assert ("console:viewer", "report_read", f"candidate:{bob}") in new
    assert any(a == "console:viewer" and act == "ranking_read" for a, act, _s in new)
    assert any(a == "console:viewer" and act == "progress_viewed" for a, act, _s in new)
    assert ("console:viewer", "access_denied", f"candidate:{ann}") in new
    assert ("console:hr", "decision", f"candidate:{ann}") in new
    assert ("console:hr", "decision", f"candidate:{bob}") in new
