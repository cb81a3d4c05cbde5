"""The engine: one event, one transaction, intents to the outbox.

Adapters call :meth:`Engine.receive` as soon as an update arrives (the inbox row is
committed before the platform is told the update was received), then
:meth:`Engine.process`. :meth:`Engine.handle` does both. A duplicate event id changes
nothing and sends nothing. After a crash, :meth:`Engine.process_pending` finishes
what was received but not processed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Insert
from sqlmodel import Session, col, select

from dialogs import interview, ratelimit, router
from dialogs.catalog import normalize_language, t
from dialogs.context import Ctx, Services
from dialogs.events import Event, parse_event
from dialogs.intents import Intent, Send
from dialogs.outbox import write_intents
from dialogs.plan import AnswerLimits
from storage import queue
from storage.db import Database, insert_ignoring_duplicates, table_of
from storage.models import InboxEvent

log = logging.getLogger(__name__)

_INBOX = table_of(InboxEvent)


class Engine:
    def __init__(self, db: Database, services: Services) -> None:
        self.db = db
        self.services = services
        # In memory, no I/O: over-limit events are stored as 'throttled' and dropped.
        self.limiter = ratelimit.RateLimiter(services.settings, services.clock)
        # One statement stores an event; a duplicate event id inserts nothing (no row back).
        self._insert_inbox_stmt: Insert = insert_ignoring_duplicates(
            _INBOX, db.engine.dialect.name, "event_id"
        )

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
            with self.db.transaction() as session:
                if not self._insert_inbox(session, event):
                    return []
                return ratelimit.throttle(session, event, verdict, self.services)
        try:
            with self.db.transaction() as session:
                if not self._insert_inbox(session, event, processed_at=self.services.clock.now()):
                    return []
                return self._run(session, event)
        except Exception as exc:
            log.exception("handling event %s failed", event.event_id)
            if not self.receive(event):
                return []
            return self._fail(event.event_id, exc)

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
        router.route(ctx)
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
            row.error = f"{type(exc).__name__}: {exc}"[:2000]
            event = parse_event(row.payload)
            lang = router.language_of(session, event, self.services)
            intent = Send(
                platform=event.platform, chat_id=event.chat_id, text=t(lang, "common.error")
            )
            write_intents(session, [intent], source_event=event_id, now=self.services.clock.now())
            session.add(row)
            return [intent]

    def answer_limits(self, platform: str, user_id: str) -> AnswerLimits | None:
        """Limits of the question the user is answering now, or None if not answering."""
        with self.db.session() as session:
            return interview.current_limits(session, self.services, platform, user_id)
