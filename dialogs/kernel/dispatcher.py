"""Delivers the outbox through the channels: in order per chat, retried, marked sent.

A message is claimed (``sending``) before the platform call and marked ``sent``
after it. HR-group posts reach the outbox through the group scheduler (released within
each group's budget, :mod:`dialogs.kernel.groupposts`), which every round runs first; a
bot-wide budget per platform (``[groups] bot_per_second``, per process) lets
candidates' replies go before HR-group messages. After a crash, ``sending`` rows go back to ``pending``: a kill between
the platform's answer and our commit can repeat that one message (milliseconds
wide); everything else is sent exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col, select

from core.clock import Clock
from core.errors import ChannelError, StorageError, describe_error
from core.settings import Settings
from dialogs.kernel.channel import Messenger
from dialogs.kernel.groupposts import GroupScheduler
from dialogs.kernel.intents import Edit, Intent, Send, SendFile, parse_intent
from storage.db import Database
from storage.media import MediaStore
from storage.models import AuditEvent, GroupBinding, GroupPost, OutboxMessage

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
        self.groups = GroupScheduler(db, settings.groups, channels)
        self._bot_tokens: dict[str, tuple[float, float]] = {}  # platform -> (tokens, at)
        self._group_chats: tuple[float, frozenset[tuple[str, str]]] = (float("-inf"), frozenset())

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
            candidates = self._within_bot_budget(session, candidates)
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

    def _within_bot_budget(
        self, session: Session, rows: list[OutboxMessage]
    ) -> list[OutboxMessage]:
        """Candidates' (and every other private chat's) messages first, always; messages
        to HR groups only while the platform's bot-wide budget has room left."""
        limits = self.settings.groups.bot_per_second
        if not any(r.platform in limits for r in rows):
            return rows
        groups = self._bound_groups(session)
        now = self.clock.now().timestamp()
        direct = [r for r in rows if (r.platform, r.chat_id) not in groups]
        to_groups = [r for r in rows if (r.platform, r.chat_id) in groups]
        chosen = list(direct)
        for platform, rate in limits.items():
            tokens, at = self._bot_tokens.get(platform, (rate, now))
            tokens = min(rate, tokens + max(0.0, now - at) * rate)
            tokens -= sum(1 for r in direct if r.platform == platform)
            for row in to_groups:
                if row.platform == platform and tokens >= 1:
                    tokens -= 1
                    chosen.append(row)
            self._bot_tokens[platform] = (tokens, now)
        chosen += [r for r in to_groups if r.platform not in limits]
        return sorted(chosen, key=lambda r: r.id or 0)

    def _bound_groups(self, session: Session) -> frozenset[tuple[str, str]]:
        at, chats = self._group_chats
        now = time.monotonic()
        if now - at > 30:
            chats = frozenset(session.exec(select(GroupBinding.platform, GroupBinding.chat_id)))
            self._group_chats = (now, chats)
        return chats

    def tick_groups(self) -> int:
        """Release HR-group posts within each group's budget (also run by :meth:`run_once`)."""
        return self.groups.tick(self.clock.now())

    async def run_once(self, *, groups: bool = False) -> int:
        """Deliver what is due now; returns how many messages were attempted. The group
        scheduler runs first when ``groups`` or when its tick is due."""
        if groups or self.groups.due(self.clock.now()):
            await asyncio.to_thread(self.tick_groups)
        return await self._deliver_due()

    async def _deliver_due(self) -> int:
        rows = await asyncio.to_thread(self._claim)
        if rows:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def drain(self, max_rounds: int = 1000) -> None:
        """Deliver until nothing is due (console, tests, demo)."""
        for _ in range(max_rounds):
            if await self.run_once(groups=True) == 0:
                return

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop``; the group scheduler ticks in a task of its own, so no
        candidate's reply waits for a tick."""
        poll = self.settings.outbox.poll_seconds
        ticker = asyncio.create_task(self._tick_groups(stop))
        try:
            while not stop.is_set():
                try:
                    sent = await self._deliver_due()
                except Exception:  # keep delivering whatever one bad row did
                    log.exception("outbox round failed")
                    sent = 0
                if sent == 0:
                    self.wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wakeup.wait(), timeout=poll)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _tick_groups(self, stop: asyncio.Event) -> None:
        every = self.settings.groups.tick_seconds
        while not stop.is_set():
            try:
                if await asyncio.to_thread(self.tick_groups):
                    self.wakeup.set()  # posts released: deliver them now
            except Exception:
                log.exception("group scheduler round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def _deliver(self, row: OutboxMessage) -> tuple[bool, str | None]:
        """Send one message and record the outcome at once (a slow neighbour in the same
        round must not keep a delivered message unmarked: that would widen the window in
        which a crash repeats it)."""
        intent = parse_intent(row.payload)
        messenger = self.channels[row.platform]
        try:
            try:
                file_data, target = await asyncio.to_thread(self._prepare, intent)
            except _PostAnew:
                assert isinstance(intent, Edit)
                intent = Send(
                    platform=intent.platform,
                    chat_id=intent.chat_id,
                    text=intent.text,
                    buttons=intent.buttons,
                )
                file_data, target = None, None
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
                return self._edit_of_unsent(intent)
            if target[1] != "sent":
                raise _NotYet()
            return None, target[0]
        return None, None

    def _edit_of_unsent(self, intent: Edit) -> tuple[bytes | None, str | None]:
        """An edit of an HR-group post still waiting for its group's budget waits too; one
        of a post merged with others is posted anew (editing would replace the others)."""
        with self.db.session() as session:
            post = session.exec(
                select(GroupPost.status)
                .where(
                    GroupPost.ref == intent.ref,
                    GroupPost.platform == intent.platform,
                    GroupPost.chat_id == intent.chat_id,
                )
                .order_by(col(GroupPost.id).desc())
            ).first()
        if post == "pending":
            raise _NotYet()
        if post == "merged":
            raise _PostAnew()
        raise ChannelError(f"no message {intent.ref!r} to edit")

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


class _PostAnew(Exception):
    """The message an Edit targets was merged with others: send the new text instead."""
