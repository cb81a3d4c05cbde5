"""The engine: one event, one transaction, intents to the outbox.

Adapters call :meth:`Engine.receive` as soon as an update arrives (the inbox row is
committed before the platform is told the update was received), then
:meth:`Engine.process`. :meth:`Engine.handle` does both. A duplicate event id changes
nothing and sends nothing. After a crash, :meth:`Engine.process_pending` finishes
what was received but not processed.

Group commit (SQLite): when several threads call :meth:`Engine.handle` at once, one of
them handles the waiting events in one transaction, each event inside its own
SAVEPOINT, and commits once. Each event's inbox row and intents still commit together
or not at all, an event that fails is rolled back to its savepoint alone, and a
duplicate event id changes nothing. SQLite has one writer at a time anyway, so the
batch costs nobody a wait it would not have had; it saves a transaction per event.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Insert, bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from core.errors import describe_error
from dialogs.kernel import ratelimit, router
from dialogs.kernel.catalog import normalize_language, t
from dialogs.kernel.channel import AnswerLimits
from dialogs.kernel.context import Ctx, Services
from dialogs.kernel.events import Event, parse_event
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.notify import HRChat, hr_group_chats
from dialogs.kernel.outbox import write_intents
from dialogs.kernel.registry import Registry
from storage import queue
from storage.db import Database, insert_ignoring_duplicates, table_of
from storage.models import Candidate, ChannelIdentity, InboxEvent

log = logging.getLogger(__name__)

_INBOX = table_of(InboxEvent)
# Most events one transaction may carry (bounds the wait of the first one in a batch).
GROUP_COMMIT_MAX = 16
# The GIL hand-off interval while an engine runs. Every SQLite call releases the GIL;
# getting it back from a busy thread (dispatcher, workers) waits up to this long, and an
# event makes ~12 calls. Python's default (5 ms) turned that into tens of ms per event.
GIL_SWITCH_INTERVAL_S = 0.001


class CandidateHR(NamedTuple):
    """A candidate, their job, and the HR groups bound to it."""

    candidate_id: int
    job_id: int
    chats: list[HRChat]


@dataclass(eq=False)
class _Pending:
    """An event waiting for a batch, and what handling it gave."""

    event: Event
    done: bool = False
    intents: list[Intent] = field(default_factory=list)
    error: Exception | None = None


_SEEN = core_select(_INBOX.c.id).where(_INBOX.c.event_id == bindparam("event_id")).limit(1)


class Engine:
    def __init__(self, db: Database, services: Services, registry: Registry) -> None:
        self.db = db
        self.services = services
        self.registry = registry
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        # In memory, no I/O: over-limit events are stored as 'throttled' and dropped.
        self.limiter = ratelimit.RateLimiter(services.settings, services.clock)
        # One statement stores an event; a duplicate event id inserts nothing (no row back).
        self._insert_inbox_stmt: Insert = insert_ignoring_duplicates(
            _INBOX, db.engine.dialect.name, "event_id"
        )
        # Group commit on SQLite only: its writers are serialised anyway. On PostgreSQL
        # a batch would hold several candidates' row locks at once across processes.
        self.group_commit_max = GROUP_COMMIT_MAX if db.is_sqlite else 1
        self._waiting: deque[_Pending] = deque()
        self._waiting_lock = threading.Lock()
        self._leader = threading.Lock()

    # -- inbox ---------------------------------------------------------------
    def receive(self, event: Event) -> bool:
        """Persist an event in the inbox. Returns False for a duplicate."""
        verdict = self.limiter.check(event)
        with self.db.transaction() as session:
            stored = self._insert_inbox(session, event)
            if stored and verdict is not ratelimit.Verdict.ALLOW:
                ratelimit.throttle(session, event, verdict, self.services)
            return stored

    def _insert_inbox(
        self, session: Session, event: Event, *, processed_at: dt.datetime | None = None
    ) -> bool:
        """Store the event; False if its id is already in the inbox (nothing inserted)."""
        row: dict[str, Any] = {
            "event_id": event.event_id,
            "platform": event.platform,
            "chat_id": event.chat_id,
            "payload": event.model_dump_json(),
            "status": "received" if processed_at is None else "processed",
            "received_at": self.services.clock.now(),
            "processed_at": processed_at,
            "error": None,
        }
        return session.execute(self._insert_inbox_stmt, row).first() is not None

    def process(self, event_id: str) -> list[Intent]:
        """Handle a received event exactly once; returns the intents it produced."""
        try:
            with self.db.transaction() as session:
                row = session.exec(
                    select(InboxEvent).where(InboxEvent.event_id == event_id).with_for_update()
                ).first()
                if row is None or row.status != "received":
                    return []
                event = parse_event(row.payload)
                intents = self._run(session, event)
                row.status = "processed"
                row.processed_at = self.services.clock.now()
                session.add(row)
                return intents
        except Exception as exc:
            log.exception("handling event %s failed", event_id)
            return self._fail(event_id, exc)

    def handle(self, event: Event) -> list[Intent]:
        """Receive and process in one transaction (console, tests, background tasks).

        If handling fails, the event is still stored (marked failed) and the user is
        told something went wrong.
        """
        verdict = self.limiter.check(event)
        if verdict is not ratelimit.Verdict.ALLOW:
            return self._throttle(event, verdict)
        if self.group_commit_max <= 1:
            pending = _Pending(event)
            self._handle_alone(pending)
        else:
            pending = self._handle_grouped(event)
        return self._outcome(pending)

    def handle_batch(self, events: Sequence[Event]) -> list[list[Intent]]:
        """Handle events that arrived together (e.g. one poll's updates), in order.

        Same outcome as calling :meth:`handle` for each in turn; on SQLite they share
        transactions (one savepoint per event). Returns each event's intents.
        """
        results: list[list[Intent]] = [[] for _ in events]
        admitted: list[tuple[int, _Pending]] = []
        for i, event in enumerate(events):
            verdict = self.limiter.check(event)
            if verdict is ratelimit.Verdict.ALLOW:
                admitted.append((i, _Pending(event)))
            else:
                results[i] = self._throttle(event, verdict)
        step = max(1, self.group_commit_max)
        for start in range(0, len(admitted), step):
            with self._leader:
                self._handle_batch([p for _, p in admitted[start : start + step]])
        for i, pending in admitted:
            results[i] = self._outcome(pending)
        return results

    def _throttle(self, event: Event, verdict: ratelimit.Verdict) -> list[Intent]:
        with self.db.transaction() as session:
            if not self._insert_inbox(session, event):
                return []
            return ratelimit.throttle(session, event, verdict, self.services)

    def _outcome(self, pending: _Pending) -> list[Intent]:
        if pending.error is not None:
            # Stored (marked failed) in a transaction of its own; the user is told.
            if not self.receive(pending.event):
                return []
            return self._fail(pending.event.event_id, pending.error)
        return pending.intents

    def _handle_alone(self, pending: _Pending) -> None:
        """One event, one transaction."""
        event = pending.event
        try:
            with self.db.transaction() as session:
                if self._insert_inbox(session, event, processed_at=self.services.clock.now()):
                    pending.intents = self._run(session, event)
        except Exception as exc:
            log.exception("handling event %s failed", event.event_id)
            pending.error = exc
        pending.done = True

    def _handle_grouped(self, event: Event) -> _Pending:
        """Queue the event; whoever holds the leader lock handles a batch of the queue.

        Returns once the event is handled (by this thread or another one).
        """
        pending = _Pending(event)
        with self._waiting_lock:
            self._waiting.append(pending)
        while not pending.done:
            with self._leader:
                if pending.done:
                    break
                with self._waiting_lock:
                    size = min(len(self._waiting), self.group_commit_max)
                    batch = [self._waiting.popleft() for _ in range(size)]
                self._handle_batch(batch)
        return pending

    def _handle_batch(self, batch: list[_Pending]) -> None:
        try:
            self._run_batch(batch)
        finally:
            for pending in batch:  # even on KeyboardInterrupt: no thread waits forever
                if not pending.done:
                    pending.error = pending.error or RuntimeError("event handling interrupted")
                    pending.done = True

    def _run_batch(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            self._handle_alone(batch[0])  # no savepoint needed
            return
        try:
            with self.db.transaction() as session:
                now = self.services.clock.now()
                for pending in batch:
                    event = pending.event
                    try:
                        with session.begin_nested():
                            if self._insert_inbox(session, event, processed_at=now):
                                pending.intents = self._run(session, event)
                    except Exception as exc:
                        log.exception("handling event %s failed", event.event_id)
                        pending.intents = []
                        pending.error = exc
        except Exception:
            # The shared commit failed: nothing of the batch is stored. Handle each
            # event alone, so one event's trouble stays that event's.
            log.exception("group commit of %d events failed; handling them one by one", len(batch))
            for pending in batch:
                pending.intents, pending.error = [], None
                self._handle_alone(pending)
            return
        for pending in batch:
            pending.done = True

    def process_pending(self) -> int:
        """Process inbox rows received but not processed (after a crash)."""
        with self.db.session() as session:
            ids = session.exec(
                select(InboxEvent.event_id)
                .where(InboxEvent.status == "received")
                .order_by(col(InboxEvent.id))
            ).all()
        for event_id in ids:
            self.process(event_id)
        if ids:
            log.info("processed %d events left in the inbox", len(ids))
        return len(ids)

    # -- internals ---------------------------------------------------------------
    def _run(self, session: Session, event: Event) -> list[Intent]:
        ctx = Ctx(
            session=session,
            event=event,
            services=self.services,
            lang=normalize_language(
                event.language_hint, self.services.settings.app.default_language
            ),
        )
        router.route(ctx, self.registry)
        now = self.services.clock.now()
        write_intents(session, ctx.intents, source_event=event.event_id, now=now)
        for job in ctx.jobs:
            queue.add(session, job.kind, job.payload, key=job.key, now=now)
        return list(ctx.intents)

    def _fail(self, event_id: str, exc: Exception) -> list[Intent]:
        """Keep the event (marked failed, replayable) and tell the user something useful."""
        with self.db.transaction() as session:
            row = session.exec(select(InboxEvent).where(InboxEvent.event_id == event_id)).first()
            if row is None or row.status != "received":
                return []
            row.status = "failed"
            row.error = describe_error(exc)[:2000]  # never the message: it can hold user input
            event = parse_event(row.payload)
            lang = router.language_of(session, event, self.services)
            intent = Send(
                platform=event.platform, chat_id=event.chat_id, text=t(lang, "common.error")
            )
            write_intents(session, [intent], source_event=event_id, now=self.services.clock.now())
            session.add(row)
            return [intent]

    def seen(self, event_id: str) -> bool:
        """Whether the inbox already holds this event (a platform's retry or duplicate)."""
        with self.db.session() as session:
            found = session.execute(_SEEN, {"event_id": event_id}).first()
            return found is not None

    def candidate_hr_chats(self, platform: str, user_id: str) -> CandidateHR | None:
        """The candidate this chat user is, their job and its HR groups (None if no
        candidate): for an adapter that must tell HR a candidate cannot be reached."""
        with self.db.session() as session:
            ident = session.exec(
                select(ChannelIdentity).where(
                    ChannelIdentity.platform == platform, ChannelIdentity.user_id == user_id
                )
            ).first()
            candidate = (
                session.get(Candidate, ident.candidate_id) if ident and ident.candidate_id else None
            )
            if candidate is None or candidate.id is None:
                return None
            return CandidateHR(
                candidate.id, candidate.job_id, hr_group_chats(session, candidate.job_id)
            )

    def answer_limits(self, platform: str, user_id: str) -> AnswerLimits | None:
        """Limits of the question the user is answering now, or None if not answering."""
        with self.db.session() as session:
            flow = self.registry.candidate_flow
            if flow is None:
                return None
            return flow.limits(session, self.services, platform, user_id)
