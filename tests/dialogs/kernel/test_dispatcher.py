"""Outbox delivery: order per chat, retries, recorded failures, edits."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from app.wiring import App
from core.clock import FakeClock
from core.errors import ChannelError
from dialogs.kernel.intents import Button, Edit, Send
from dialogs.kernel.outbox import write_intents
from storage.models import AuditEvent, OutboxMessage
from tests.harness import RecordingMessenger


def queue(app: App, *intents: Send | Edit) -> None:
    with app.db.transaction() as session:
        write_intents(session, intents, source_event="test", now=app.services.clock.now())


def drain(app: App) -> None:
    asyncio.run(app.dispatcher().drain())


def rows(app: App) -> list[OutboxMessage]:
    with app.db.session() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def test_messages_are_sent_once_in_order(app: App, messenger: RecordingMessenger) -> None:
    queue(app, *(Send(platform="console", chat_id="a", text=f"m{i}") for i in range(5)))
    drain(app)
    drain(app)
    assert [d.text for d in messenger.to("a")] == ["m0", "m1", "m2", "m3", "m4"]
    assert {r.status for r in rows(app)} == {"sent"}


def test_retryable_failure_waits_and_keeps_order(
    app: App, messenger: RecordingMessenger, clock: FakeClock
) -> None:
    messenger.fail_next = [ChannelError("429", retryable=True, retry_after=30)]
    queue(
        app,
        Send(platform="console", chat_id="a", text="first"),
        Send(platform="console", chat_id="a", text="second"),
    )
    queue(app, Send(platform="console", chat_id="b", text="other chat"))
    drain(app)
    assert [d.text for d in messenger.delivered] == [
        "other chat"
    ]  # chat a waits behind its first message
    clock.advance(seconds=31)
    drain(app)
    assert [d.text for d in messenger.to("a")] == ["first", "second"]


def test_permanent_failure_is_recorded_not_dropped(app: App, messenger: RecordingMessenger) -> None:
    # The platform's reply can quote what was sent (a file named after the candidate):
    # only the error's fixed reason is kept.
    messenger.fail_next = [
        ChannelError(
            "no data for file Report Zhang Wei 13912345678.pdf",
            retryable=False,
            reason="chat not found",
        )
    ]
    queue(app, Send(platform="console", chat_id="gone", text="hello"))
    drain(app)
    row = rows(app)[0]
    assert row.status == "failed"
    assert row.last_error == "ChannelError: chat not found (not retryable)"
    with app.db.session() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "delivery_failed")).one()


def test_retries_run_out_then_failed(
    app: App, messenger: RecordingMessenger, clock: FakeClock
) -> None:
    app.settings.outbox.max_attempts = 3
    messenger.fail_next = [ChannelError("network", retryable=True)] * 3
    queue(app, Send(platform="console", chat_id="a", text="x"))
    for _ in range(4):
        drain(app)
        clock.advance(seconds=120)
    assert rows(app)[0].status == "failed" and rows(app)[0].attempts == 3


def test_edit_targets_the_sent_message(app: App, messenger: RecordingMessenger) -> None:
    queue(
        app,
        Send(
            platform="console",
            chat_id="g",
            text="Decide?",
            ref="decide:1",
            buttons=[[Button(label="OK", data="ok")]],
        ),
    )
    queue(app, Edit(platform="console", chat_id="g", ref="decide:1", text="Approved by Ann"))
    drain(app)
    sent, edit = messenger.to("g")
    assert edit.kind == "edit" and edit.target == sent.message_id


def test_crash_while_sending_is_recovered(app: App, messenger: RecordingMessenger) -> None:
    queue(app, Send(platform="console", chat_id="a", text="x"))
    with app.db.transaction() as session:
        row = session.exec(select(OutboxMessage)).one()
        row.status = "sending"  # a process died between claim and send
        session.add(row)
    assert app.dispatcher().recover() == 1
    drain(app)
    assert [d.text for d in messenger.delivered] == ["x"]
