"""Several processes share one outbox: leased claims, per-chat order, crashed holders."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from app.wiring import App, build_app
from core.clock import FakeClock
from core.errors import ChannelError
from core.settings import Settings
from dialogs.kernel.dispatcher import Dispatcher
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.outbox import write_intents
from storage.models import OutboxMessage
from tests.harness import RecordingMessenger


class SharedLog:
    """One platform seen by two processes: every delivery, in the order it happened."""

    platform = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        assert isinstance(intent, Send)
        await asyncio.sleep(0.002)  # the platform call: the other process runs meanwhile
        with self._lock:
            self.sent.append((intent.chat_id, intent.text))
            return str(len(self.sent))


@pytest.fixture
def other(settings: Settings, clock: FakeClock, app: App) -> Iterator[App]:
    """A second front process on the same database (its own process token)."""
    second = build_app(settings, clock=clock, migrate_db=False)
    second.channels["console"] = RecordingMessenger()
    assert second.process_token != app.process_token
    yield second
    second.db.engine.dispose()


def queue(app: App, chat_id: str, *texts: str) -> None:
    with app.db.transaction() as session:
        write_intents(
            session,
            [Send(platform="console", chat_id=chat_id, text=t) for t in texts],
            source_event="test",
            now=app.services.clock.now(),
        )


def rows(app: App) -> list[OutboxMessage]:
    with app.db.session() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def left(app: App) -> int:
    return sum(1 for r in rows(app) if r.status in ("pending", "sending"))


def test_two_processes_drain_one_outbox_each_message_once_in_chat_order(
    app: App, other: App
) -> None:
    chats = [f"c{n}" for n in range(8)]
    for chat in chats:
        queue(app, chat, *(f"{chat}-{i}" for i in range(6)))
    log = SharedLog()
    app.channels["console"] = other.channels["console"] = log
    errors: list[BaseException] = []

    def front(instance: App) -> None:
        dispatcher = instance.dispatcher()
        dispatcher.batch = 3  # small rounds: both processes get work

        async def loop() -> None:
            for _ in range(2000):
                if await dispatcher.run_once() == 0:
                    if await asyncio.to_thread(left, instance) == 0:
                        return
                    await asyncio.sleep(0.002)

        try:
            asyncio.run(loop())
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=front, args=(a,)) for a in (app, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(log.sent) == sorted((c, f"{c}-{i}") for c in chats for i in range(6))
    for chat in chats:
        assert [text for c, text in log.sent if c == chat] == [f"{chat}-{i}" for i in range(6)]
    final = rows(app)
    assert {r.status for r in final} == {"sent"} and {r.attempts for r in final} == {1}
    assert {r.claimed_by for r in final} == {app.process_token, other.process_token}


def test_a_dead_holders_claims_are_taken_over_once_its_lease_ran_out(
    app: App, other: App, clock: FakeClock
) -> None:
    queue(app, "a", "first", "second")
    dead = app.dispatcher()
    (claimed,) = dead._claim()  # claimed, then the process "died" before sending
    survivor = other.dispatcher()
    assert asyncio.run(survivor.run_once()) == 0  # leased: the chat waits, in order
    assert survivor.recover() == 0  # its holder is a live process: not reset
    clock.advance(seconds=app.settings.outbox.lease_seconds + 1)
    asyncio.run(survivor.drain())
    messenger = other.channels["console"]
    assert isinstance(messenger, RecordingMessenger)
    assert [d.text for d in messenger.delivered] == ["first", "second"]
    # The first holder comes back late: it may not mark (or fail) what it no longer holds.
    dead._mark_sent([(claimed, "late")])
    dead._failed(claimed, ChannelError("late", retryable=True))
    first = rows(app)[0]
    assert (first.status, first.claimed_by, first.attempts) == ("sent", other.process_token, 1)
    assert first.platform_message_id != "late"


def test_a_start_leaves_live_claims_alone_and_frees_those_of_dead_local_processes(
    app: App, other: App
) -> None:
    queue(app, "a", "x")
    queue(app, "b", "y")
    mine = app.dispatcher()
    assert len(mine._claim()) == 2
    assert other.dispatcher().recover() == 0
    assert {r.status for r in rows(app)} == {"sending"}
    # A holder on this host whose process has exited (kill -9 before this start).
    gone = subprocess.Popen(["true"])
    gone.wait()
    with app.db.transaction() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == "b")).one()
        row.claimed_by = f"{socket.gethostname()[:50]}/{gone.pid}/dead"
        session.add(row)
    assert other.dispatcher().recover() == 1
    by_chat = {r.chat_id: r for r in rows(app)}
    assert by_chat["a"].status == "sending" and by_chat["a"].claimed_by == app.process_token
    assert by_chat["b"].status == "pending" and by_chat["b"].claimed_by is None


def test_renewed_leases_hold_and_release_hands_back_only_its_own(
    app: App, other: App, clock: FakeClock
) -> None:
    queue(app, "a", "x")
    queue(app, "b", "y")
    lease = app.settings.outbox.lease_seconds
    mine: Dispatcher = app.dispatcher()
    assert len(mine._claim()) == 2
    clock.advance(seconds=lease * 0.9)
    assert mine.renew() == 2
    clock.advance(seconds=lease * 0.5)  # past the first lease, within the renewed one
    assert asyncio.run(other.dispatcher().run_once()) == 0
    assert other.dispatcher().release() == 0
    assert mine.release() == 2
    assert {(r.status, r.claimed_by) for r in rows(app)} == {("pending", None)}


@pytest.mark.postgres_subset.with_args(lambda params: False)
def test_a_stopping_dispatcher_hands_back_what_it_still_holds(app: App, other: App) -> None:
    queue(app, "a", "x")
    queue(app, "b", "y")
    mine, theirs = app.dispatcher(), other.dispatcher()
    mine.batch = 1
    assert len(mine._claim()) == 1 and len(theirs._claim()) == 1
    stop = asyncio.Event()
    stop.set()
    asyncio.run(mine.run(stop))  # stops at once; its claim goes back, the other's stays
    assert sorted((r.chat_id, r.status, r.claimed_by) for r in rows(app)) == [
        ("a", "pending", None),
        ("b", "sending", other.process_token),
    ]


@pytest.mark.postgres_subset.with_args(lambda params: False)
def test_a_restart_in_place_frees_the_claims_of_its_previous_self(app: App) -> None:
    """A container restarted in place runs under the same pid as the process that died."""
    queue(app, "a", "x")
    with app.db.transaction() as session:
        row = session.exec(select(OutboxMessage)).one()
        row.status = "sending"
        row.claimed_by = f"{socket.gethostname()[:50]}/{os.getpid()}/previous"
        row.lease_until = app.services.clock.now() + dt.timedelta(hours=1)
        session.add(row)
    assert app.dispatcher().recover() == 1
    assert rows(app)[0].status == "pending"
