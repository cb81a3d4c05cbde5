"""Delivers the outbox through the channels: in order per chat, retried, marked sent.

Several processes may share one outbox. A message is claimed before the platform call:
``sending``, ``claimed_by`` this process's token and leased until ``lease_until``
(``[outbox] lease_seconds``, renewed while the process runs); it is marked ``sent`` after
the call, by its claimant only. On PostgreSQL the claim locks its rows with
``FOR UPDATE SKIP LOCKED``, so processes never wait on each other's rounds; SQLite has
one writer at a time (``BEGIN IMMEDIATE``). A chat's message is claimed only when every
earlier message of that chat is sent (or failed for good): never while one is pending
or leased, so each chat keeps its order across processes.

A process that dies leaves its claims leased: any process claims them again once the
lease has run out (or at once, at start-up, when the holder was a process on this host
that no longer exists); nothing resets the claims of a live process. A kill between
the platform's answer and our commit can repeat that one message (milliseconds wide),
and so can a process that stalls for longer than its lease; everything else is sent
exactly once. On SIGTERM a process finishes its round and hands back (``release``)
whatever it still holds.

HR-group posts reach the outbox through the group scheduler (released within each
group's budget, :mod:`dialogs.kernel.groupposts`), which every round runs first; a
bot-wide budget per platform (``[groups] bot_per_second``, per process or shared through
Redis, :mod:`dialogs.kernel.botbudget`) lets candidates' replies go before HR-group
messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import Session, col, select

from core.clock import Clock
from core.errors import ChannelError, StorageError, describe_error
from core.settings import Settings
from dialogs.kernel.botbudget import BotBudget, build_bot_budget
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
        token: str | None = None,
        budget: BotBudget | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.clock = clock
        self.settings = settings
        self.media = media
        self.batch = batch
        self.wakeup = asyncio.Event()
        self.groups = GroupScheduler(db, settings.groups, channels)
        self.token = token or new_process_token()
        self.budget = budget or build_bot_budget(settings, clock)
        self.lease = dt.timedelta(seconds=settings.outbox.lease_seconds)
        self._group_chats: tuple[float, frozenset[tuple[str, str]]] = (float("-inf"), frozenset())

    def recover(self) -> int:
        """Claims nobody holds any more go back to ``pending``: leases that ran out, and
        those of processes on this host that no longer exist (a ``kill -9`` before this
        start). A live process's claims are left alone."""
        now = self.clock.now()
        with self.db.transaction() as session:
            holders = set(
                session.exec(
                    select(OutboxMessage.claimed_by)
                    .where(col(OutboxMessage.status) == "sending")
                    .distinct()
                )
            )
            dead = [h for h in holders if h is not None and _holder_is_gone(h)]
            result = session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.status) == "sending")
                .where(
                    or_(
                        _lease_over(now),
                        col(OutboxMessage.claimed_by).in_(dead),
                    )
                )
                .values(status="pending", claimed_by=None, lease_until=None)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def renew(self) -> int:
        """Extend this process's leases (its claims only); returns how many."""
        with self.db.transaction() as session:
            result = session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.status) == "sending")
                .where(col(OutboxMessage.claimed_by) == self.token)
                .values(lease_until=self.clock.now() + self.lease)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def release(self) -> int:
        """Hand this process's claims back (``pending``) for any process to send."""
        with self.db.transaction() as session:
            result = session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.status) == "sending")
                .where(col(OutboxMessage.claimed_by) == self.token)
                .values(status="pending", claimed_by=None, lease_until=None)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _claim(self) -> list[OutboxMessage]:
        """The oldest message of each chat whose earlier messages are all done: due, or
        ``sending`` under a lease that ran out; within the bot-wide budget."""
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
                if row.status == "pending":
                    ready = row.next_attempt_at <= now
                else:
                    ready = row.lease_until is None or row.lease_until < now
                if ready:
                    candidates.append(row)
                if len(candidates) >= self.batch:
                    break
            if not candidates:
                return []
            # Lock what is still claimable; rows another process is claiming are skipped
            # (PostgreSQL; SQLite has one writer and ignores FOR UPDATE).
            locked = set(
                session.execute(
                    select(OutboxMessage.id)
                    .where(col(OutboxMessage.id).in_([r.id for r in candidates]))
                    .where(_claimable(now))
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            candidates = [r for r in candidates if r.id in locked]
            candidates = self._within_bot_budget(session, candidates)
            if not candidates:
                return []
            # One statement claims the batch; RETURNING says which rows were still ours.
            claimed = set(
                session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_([r.id for r in candidates]))
                    .where(_claimable(now))
                    .values(status="sending", claimed_by=self.token, lease_until=now + self.lease)
                    .returning(col(OutboxMessage.id))
                ).scalars()
            )
            return [r for r in candidates if r.id in claimed]

    def _within_bot_budget(
        self, session: Session, rows: list[OutboxMessage]
    ) -> list[OutboxMessage]:
        """Candidates' (and every other private chat's) messages first; messages to HR
        groups only while the platform's bot-wide budget has room left. What the budget
        does not grant now stays pending (each is the first of its chat)."""
        limits = self.settings.groups.bot_per_second
        if not any(r.platform in limits for r in rows):
            return rows
        groups = self._bound_groups(session)
        chosen: list[OutboxMessage] = []
        for platform in sorted({r.platform for r in rows}):
            mine = [r for r in rows if r.platform == platform]
            if platform not in limits:
                chosen += mine
                continue
            direct = [r for r in mine if (platform, r.chat_id) not in groups]
            to_groups = [r for r in mine if (platform, r.chat_id) in groups]
            n_direct, n_groups = self.budget.grant(platform, len(direct), len(to_groups))
            chosen += direct[:n_direct] + to_groups[:n_groups]
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
        renewer = asyncio.create_task(self._renew_leases(stop))
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
            for task in (ticker, renewer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # Nothing of ours should be left sending (a round finishes before the loop
            # looks at ``stop``); whatever is goes back for another process at once.
            with contextlib.suppress(Exception):
                released = await asyncio.to_thread(self.release)
                if released:
                    log.info("outbox: %d claimed messages handed back", released)

    async def _renew_leases(self, stop: asyncio.Event) -> None:
        every = self.settings.outbox.lease_seconds / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(self.renew)
            except Exception:
                log.exception("renewing outbox leases failed")

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
        """Mark delivered messages sent in one transaction, each only while this process
        still holds it (a claim taken over after its lease ran out is not ours to mark)."""
        now = self.clock.now()
        with self.db.transaction() as session:
            for row, mid in sent:
                result = session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id) == row.id)
                    .where(col(OutboxMessage.status) == "sending")
                    .where(col(OutboxMessage.claimed_by) == self.token)
                    .values(
                        status="sent",
                        sent_at=now,
                        attempts=row.attempts + 1,
                        platform_message_id=mid,
                        lease_until=None,
                    )
                )
                if not result.rowcount:  # type: ignore[attr-defined]
                    log.warning(
                        "outbox message %s was sent after its lease ran out; another "
                        "process may send it again",
                        row.id,
                    )

    def _failed(self, row: OutboxMessage, exc: ChannelError) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            fresh = session.get(OutboxMessage, row.id, with_for_update=True)
            if fresh is None or fresh.status != "sending" or fresh.claimed_by != self.token:
                log.warning("outbox message %s failed after its lease ran out", row.id)
                return
            fresh.attempts += 1
            fresh.lease_until = None
            fresh.last_error = describe_error(exc)[:1000]  # the message can quote user text
            if exc.retryable and fresh.attempts < self.settings.outbox.max_attempts:
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else min(60.0, 0.5 * 2**fresh.attempts)
                )
                fresh.status = "pending"
                fresh.claimed_by = None
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


_OWN_TOKENS: set[str] = set()  # tokens made by this process (tests run several Apps)


def new_process_token() -> str:
    """Names this process in ``claimed_by``: host, pid and a random part."""
    token = f"{socket.gethostname()[:50]}/{os.getpid()}/{secrets.token_hex(4)}"
    _OWN_TOKENS.add(token)
    return token


def _holder_is_gone(token: str) -> bool:
    """A claimant on this host whose process no longer exists: its pid is gone, or it is
    ours but the token is not (a container restarted in place gets the same pid).
    Claimants on other hosts are never judged here: their leases run out."""
    host, _, rest = token.partition("/")
    pid_text = rest.partition("/")[0]
    if host != socket.gethostname()[:50] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return token not in _OWN_TOKENS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, another user's
        return False
    return False


def _lease_over(now: dt.datetime) -> ColumnElement[bool]:
    return or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now)


def _claimable(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        and_(col(OutboxMessage.status) == "pending", col(OutboxMessage.next_attempt_at) <= now),
        and_(col(OutboxMessage.status) == "sending", _lease_over(now)),
    )


class _NotYet(Exception):
    """The message an Edit targets has not been sent yet."""


class _PostAnew(Exception):
    """The message an Edit targets was merged with others: send the new text instead."""
