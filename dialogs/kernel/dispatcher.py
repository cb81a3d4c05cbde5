"""Delivers the outbox through the channels: in order per chat, retried, marked sent.

A message is claimed (``sending``) before the platform call and marked ``sent``
after it. After a crash, ``sending`` rows go back to ``pending``: a kill between
the platform's answer and our commit can repeat that one message (milliseconds
wide); everything else is sent exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col, select

from core.clock import Clock
from core.errors import ChannelError, StorageError, describe_error
from core.settings import Settings
from dialogs.kernel.channel import Messenger
from dialogs.kernel.intents import Edit, Intent, SendFile, parse_intent
from storage.db import Database
from storage.media import MediaStore
from storage.models import AuditEvent, OutboxMessage

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Messenger],
        *,
        clock: Clock,
        settings: Settings,
        media: MediaStore,
        batch: int = 100,
    ) -> None:
        self.db = db
        self.channels = channels
        self.clock = clock
        self.settings = settings
        self.media = media
        self.batch = batch
        self.wakeup = asyncio.Event()

    def recover(self) -> int:
        """Messages a dead process left ``sending`` go back to ``pending``."""
        with self.db.transaction() as session:
            result = session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.status) == "sending")
                .values(status="pending")
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _claim(self) -> list[OutboxMessage]:
        """The oldest pending message of each chat whose earlier messages are all sent."""
        now = self.clock.now()
        platforms = list(self.channels)
        with self.db.transaction() as session:
            rows = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.status.in_(["pending", "sending"]))  # type: ignore[attr-defined]
                .where(col(OutboxMessage.platform).in_(platforms))
                .order_by(col(OutboxMessage.id))
                .limit(self.batch * 5)
            ).all()
            candidates: list[OutboxMessage] = []
            seen: set[tuple[str, str]] = set()
            for row in rows:
                chat = (row.platform, row.chat_id)
                if chat in seen:
                    continue
                seen.add(chat)
                if row.status == "pending" and row.next_attempt_at <= now:
                    candidates.append(row)
                if len(candidates) >= self.batch:
                    break
            if not candidates:
                return []
            # One statement claims the batch; RETURNING says which rows were still ours.
            claimed = set(
                session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_([r.id for r in candidates]))
                    .where(col(OutboxMessage.status) == "pending")
                    .values(status="sending")
                    .returning(col(OutboxMessage.id))
                ).scalars()
            )
            return [r for r in candidates if r.id in claimed]

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many messages were attempted."""
        rows = await asyncio.to_thread(self._claim)
        if rows:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def drain(self, max_rounds: int = 1000) -> None:
        """Deliver until nothing is due (console, tests, demo)."""
        for _ in range(max_rounds):
            if await self.run_once() == 0:
                return

    async def run(self, stop: asyncio.Event) -> None:
        poll = self.settings.outbox.poll_seconds
        while not stop.is_set():
            try:
                sent = await self.run_once()
            except Exception:  # keep delivering whatever one bad row did
                log.exception("outbox round failed")
                sent = 0
            if sent == 0:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=poll)

    async def _deliver(self, row: OutboxMessage) -> tuple[bool, str | None]:
        """Send one message and record the outcome at once (a slow neighbour in the same
        round must not keep a delivered message unmarked: that would widen the window in
        which a crash repeats it)."""
        intent = parse_intent(row.payload)
        messenger = self.channels[row.platform]
        try:
            file_data, target = await asyncio.to_thread(self._prepare, intent)
            message_id = await messenger.deliver(
                intent, file_data=file_data, target_message_id=target
            )
        except ChannelError as exc:
            await asyncio.to_thread(self._failed, row, exc)
            return False, None
        except _NotYet:
            await asyncio.to_thread(
                self._failed,
                row,
                ChannelError("edit target not sent yet", retryable=True, retry_after=1),
            )
            return False, None
        except Exception as exc:
            log.exception("delivering outbox message %s failed", row.id)
            await asyncio.to_thread(
                self._failed, row, ChannelError(f"{type(exc).__name__}: {exc}", retryable=True)
            )
            return False, None
        await asyncio.to_thread(self._mark_sent, [(row, message_id)])
        return True, message_id

    def _prepare(self, intent: Intent) -> tuple[bytes | None, str | None]:
        if isinstance(intent, SendFile):
            try:
                data = (
                    self.media.get(intent.path)
                    if intent.encrypted
                    else Path(intent.path).read_bytes()
                )
            except (StorageError, OSError) as exc:
                raise ChannelError(f"file to send is missing: {exc}") from exc
            return data, None
        if isinstance(intent, Edit):
            with self.db.session() as session:
                target = session.exec(
                    select(OutboxMessage.platform_message_id, OutboxMessage.status)
                    .where(
                        OutboxMessage.ref == intent.ref,
                        OutboxMessage.platform == intent.platform,
                        OutboxMessage.chat_id == intent.chat_id,
                    )
                    .order_by(col(OutboxMessage.id).desc())
                ).first()
            if target is None:
                raise ChannelError(f"no message {intent.ref!r} to edit")
            if target[1] != "sent":
                raise _NotYet()
            return None, target[0]
        return None, None

    def _mark_sent(self, sent: list[tuple[OutboxMessage, str | None]]) -> None:
        """Mark a delivered batch sent in one transaction (one UPDATE per row, executemany)."""
        now = self.clock.now()
        with self.db.transaction() as session:
            session.execute(
                update(OutboxMessage),
                [
                    {
                        "id": row.id,
                        "status": "sent",
                        "sent_at": now,
                        "attempts": row.attempts + 1,
                        "platform_message_id": mid,
                    }
                    for row, mid in sent
                ],
            )

    def _failed(self, row: OutboxMessage, exc: ChannelError) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            fresh = session.get(OutboxMessage, row.id)
            if fresh is None:
                return
            fresh.attempts += 1
            fresh.last_error = describe_error(exc)[:1000]  # the message can quote user text
            if exc.retryable and fresh.attempts < self.settings.outbox.max_attempts:
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else min(60.0, 0.5 * 2**fresh.attempts)
                )
                fresh.status = "pending"
                fresh.next_attempt_at = now + dt.timedelta(seconds=delay)
            else:
                fresh.status = "failed"
                session.add(
                    AuditEvent(
                        at=now,
                        actor="system",
                        action="delivery_failed",
                        subject=f"outbox:{fresh.id}",
                        details={
                            "platform": fresh.platform,
                            "error": fresh.last_error,
                            "attempts": fresh.attempts,
                        },
                    )
                )
                log.error(
                    "outbox message %s failed for good after %d attempts", fresh.id, fresh.attempts
                )
            session.add(fresh)


class _NotYet(Exception):
    """The message an Edit targets has not been sent yet."""
