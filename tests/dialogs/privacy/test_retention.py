"""Retention: each kind of data is deleted when its time is up, and only then."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from sqlmodel import col, select

import main
from app.wiring import App
from core.clock import FakeClock
from core.settings import Settings
from dialogs.kernel.timers import ReminderScheduler
from dialogs.privacy import retention
from storage.models import (
    Answer,
    AuditEvent,
    Candidate,
    CandidateScore,
    GroupPost,
    InboxEvent,
    Invitation,
    KeyValue,
    OutboxMessage,
)
from tests.conftest import TELEGRAM_ON, make_settings
from tests.harness import Chat

NAMES = ("Ann Reject", "Bob Next", "Cat Never", "Dan Halfway")


def candidates(app: App) -> dict[int, Candidate]:
    with app.db.session() as session:
        return {c.id or 0: c for c in session.exec(select(Candidate)).all()}


def by_name(app: App, name: str) -> Candidate:
    [found] = [c for c in candidates(app).values() if c.name == name]
    return found


def answers(app: App) -> list[Answer]:
    with app.db.session() as session:
        return list(session.exec(select(Answer).order_by(col(Answer.id))).all())


def finish(chat: Chat, user: str, name: str, token: str, code: str) -> None:
    chat.start_interview(user, name, token, code)
    chat.media(user, f"OggS voice of {name}".encode(), duration=5)
    chat.send(user, f"A text answer by {name}")
    chat.send(user, f"Another text answer by {name}")
    chat.send(user, "/press submit")


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Telegram on: an invitation's reply carries a QR code file."""
    return make_settings(tmp_path, db_url, **TELEGRAM_ON)


@pytest.fixture
def world(app: App, chat: Chat) -> Chat:
    """Two decided candidates, one never started, one stopped halfway."""
    chat.create_job()
    chat.send("admin", "/bind sales", group="hrg")
    invites = {name: chat.invite(name) for name in NAMES}
    finish(chat, "ann", "Ann Reject", *invites["Ann Reject"])
    finish(chat, "bob", "Bob Next", *invites["Bob Next"])
    chat.start_interview("dan", "Dan Halfway", *invites["Dan Halfway"])
    ann, bob = by_name(app, "Ann Reject"), by_name(app, "Bob Next")
    chat.send("hr", f"/decide {ann.id} reject", group="hrg")
    chat.send("hr", f"/decide {bob.id} next", group="hrg")
    return chat


def run(app: App, clock: FakeClock) -> dict[str, int]:
    return retention.run_retention(app.db, app.settings, clock)


def test_nothing_is_deleted_before_its_time(app: App, world: Chat, clock: FakeClock) -> None:
    clock.advance(days=29)
    counts = run(app, clock)
    assert set(counts.values()) == {0}
    assert all(a.media_path for a in answers(app) if a.kind == "voice")


def test_recordings_go_after_the_decision_transcripts_stay(
    app: App, world: Chat, clock: FakeClock
) -> None:
    voice = [a.media_path for a in answers(app) if a.kind == "voice"]
    assert len(voice) == 2 and all(p and app.db.media.exists(p) for p in voice)
    clock.advance(days=89)
    assert run(app, clock)["recordings"] == 0
    clock.advance(days=2)
    counts = run(app, clock)
    assert counts["recordings"] == 2
    assert not any(p and app.db.media.exists(p) for p in voice)
    after = answers(app)
    assert all(a.media_path is None for a in after)
    assert any(a.text == "A text answer by Bob Next" for a in after)  # records stay
    assert run(app, clock)["recordings"] == 0  # idempotent


def test_unfinished_then_rejected_records_are_erased_the_hired_kept(
    app: App, world: Chat, clock: FakeClock
) -> None:
    clock.advance(days=181)
    counts = run(app, clock)
    assert counts["unfinished_candidates"] == 2  # never started, stopped halfway
    names = {c.name for c in candidates(app).values()}
    assert {"Ann Reject", "Bob Next"} <= names
    assert not {"Cat Never", "Dan Halfway"} & names
    clock.advance(days=185)
    counts = run(app, clock)
    assert counts["rejected_candidates"] == 1
    left = {c.name: c.status for c in candidates(app).values()}
    assert left["Bob Next"] == "next_round"
    assert "Ann Reject" not in left and left["[deleted]"] == "deleted"
    with app.db.session() as session:
        audits = session.exec(select(AuditEvent).where(AuditEvent.action == "data_deleted")).all()
    assert sorted(a.details["reason"] for a in audits) == ["retention"] * 3


def test_an_open_invitation_is_not_unfinished(app: App, chat: Chat, clock: FakeClock) -> None:
    chat.create_job()
    chat.invite("Eve Late")
    with app.db.transaction() as session:
        inv = session.exec(select(Invitation)).one()
        inv.expires_at = clock.now() + dt.timedelta(days=400)
        session.add(inv)
    clock.advance(days=200)
    assert run(app, clock)["unfinished_candidates"] == 0


def test_chat_logs_go_after_their_days_but_records_keep_their_files(
    app: App, world: Chat, clock: FakeClock
) -> None:
    with app.db.transaction() as session:
        ann = by_name(app, "Ann Reject")
        report, _ = app.db.media.put(b"%PDF report", ".pdf")
        session.add(CandidateScore(candidate_id=ann.id or 0, job_id=ann.job_id, report_path=report))
        # an unprocessed event must survive any age
        session.add(
            InboxEvent(
                event_id="console:late",
                platform="console",
                chat_id="zed",
                payload='{"type":"text","event_id":"console:late","platform":"console",'
                '"chat_id":"zed","user_id":"zed","text":"hi"}',
                received_at=clock.now(),
            )
        )
    with app.db.session() as session:
        qr_files = [
            p
            for m in session.exec(select(OutboxMessage)).all()
            if '"kind":"file"' in m.payload
            for p in [json.loads(m.payload)["path"]]
        ]
        refs = len(
            session.exec(select(OutboxMessage).where(col(OutboxMessage.ref).is_not(None))).all()
        )
    assert qr_files  # invitation QR codes went out as files
    with app.db.session() as session:
        assert session.exec(select(GroupPost)).all()  # the HR group heard of the interviews
    clock.advance(days=31)
    counts = run(app, clock)
    assert counts["inbox_events"] > 20 and counts["outbox_messages"] > 20
    assert counts["files"] >= len(qr_files)
    assert not any(app.db.media.exists(p) for p in qr_files)
    assert app.db.media.exists(report)  # the report is part of the record
    with app.db.session() as session:
        left = session.exec(select(InboxEvent)).all()
        assert [e.event_id for e in left] == ["console:late"]
        kept = session.exec(select(OutboxMessage)).all()
        assert len(kept) == refs and all(m.payload == "{}" and m.ref for m in kept)
        assert session.exec(select(GroupPost)).all() == []  # HR-group posts, reported
    assert run(app, clock)["outbox_messages"] == 0  # idempotent


def test_audit_events_expire_and_the_run_is_logged_without_personal_data(
    app: App, world: Chat, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    clock.advance(days=1096)
    with caplog.at_level(logging.DEBUG):
        counts = run(app, clock)
    assert counts["audit_events"] > 10
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "retention run:" in text
    for name in NAMES:
        assert name not in text
    with app.db.session() as session:
        runs = session.exec(select(AuditEvent).where(AuditEvent.action == "retention_run")).all()
    assert [r.details for r in runs] == [counts]


def test_daily_job_runs_once_a_day_from_the_reminder_scheduler(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    scheduler = ReminderScheduler(app.db, app.services, use_apscheduler=False)
    scheduler.tick()

    def runs() -> int:
        with app.db.session() as session:
            return len(
                session.exec(select(AuditEvent).where(AuditEvent.action == "retention_run")).all()
            )

    assert runs() == 1
    clock.advance(hours=23)
    scheduler.tick()
    assert runs() == 1
    clock.advance(hours=2)
    assert retention.run_if_due(app.db, app.services) is not None
    assert retention.run_if_due(app.db, app.services) is None
    assert runs() == 2
    with app.db.session() as session:
        assert session.get(KeyValue, retention.LAST_RUN_KEY) is not None
    scheduler.stop()


def test_cli_runs_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[app]\ndata_dir = "{data}"\n'
        f'[database]\nurl = "sqlite:///{data / "t.sqlite3"}"\n'
        f'[security]\nkey_file = "{data / "keys" / "data.key"}"\n',
        encoding="utf-8",
    )
    assert main.main(["--config", str(cfg), "retention", "run"]) == 0
    out = capsys.readouterr().out
    assert "recordings 0" in out and "audit_events 0" in out
