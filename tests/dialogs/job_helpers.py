"""Running chosen background jobs in tests, and a fake renderer that proves the event
transaction's writer lock is free while a job does its slow part."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from dialogs.kernel.intents import Intent
from dialogs.kernel.worker import JobHandler, Worker
from storage import queue
from tests.harness import Chat, Delivered


def run_jobs(
    chat: Chat, *kinds: str, handlers: dict[str, JobHandler] | None = None
) -> list[Delivered]:
    """Run every due job of these kinds (the app's handlers unless given), deliver the
    outbox, and return what was delivered."""
    before = len(chat.messenger.delivered)
    chosen = handlers or {kind: chat.app.handlers[kind] for kind in kinds}
    Worker(chat.app.db, chat.app.services, chosen).drain()
    chat.flush()
    return chat.messenger.delivered[before:]


def crash_after_result(chat: Chat, kind: str, handler: JobHandler) -> None:
    """Claim one job and run its handler, then "die" before the worker marks it done;
    the next start puts it back in the queue (as ``Worker.run`` does)."""
    job = queue.claim(chat.app.db, worker="doomed", kinds=[kind], clock=chat.app.services.clock)
    assert job is not None
    handler(job, Worker(chat.app.db, chat.app.services, {}).ctx)
    queue.recover_stale(chat.app.db, clock=chat.app.services.clock)


class AnswerWhileBusy:
    """Wraps a slow step of a job. While it runs, another candidate answers from another
    thread through ``engine.handle``; ``seconds`` is how long that answer took, or None
    when it did not finish within ``patience`` (the lock was held)."""

    def __init__(
        self, chat: Chat, user: str, text: str, step: Callable[..., Any], *, patience: float = 10
    ) -> None:
        self.chat = chat
        self.user = user
        self.text = text
        self.step = step
        self.patience = patience
        self.seconds: float | None = None
        self.intents: list[Intent] = []
        self.thread: threading.Thread | None = None

    def __call__(self, *args: Any) -> Any:
        done = threading.Event()
        event = self.chat.event(self.user, self.text)

        def answer() -> None:
            started = time.perf_counter()
            self.intents = self.chat.app.engine.handle(event)
            elapsed = time.perf_counter() - started
            if not done.is_set():
                self.seconds = elapsed
            done.set()

        self.thread = threading.Thread(target=answer, daemon=True)
        self.thread.start()
        if not done.wait(self.patience):
            done.set()  # too late: leave seconds None
        return self.step(*args)

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=60)
