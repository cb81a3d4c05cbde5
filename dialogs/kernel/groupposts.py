"""HR-group posts within each group's budget: results first, progress last, digests.

Telegram lets a bot post about 20 messages a minute in one group, a WeCom group robot
20 too; a job with 1,000 candidates offers its group ~30 progress posts a second. So
posts tagged for an HR group (``Send.post``) are not written to the outbox: they wait
here as :class:`GroupPost` rows (same transaction as the state change), and
:class:`GroupScheduler` releases them into the outbox, per group:

1. **results/decisions** first (several that waited together become one post);
2. the job's **digest** when it is due (on Telegram: the one live status message per
   job, edited in place; elsewhere a new post);
3. **progress** with whatever budget is left; progress older than
   ``[groups] fold_after_seconds`` is **folded** (the next digest counts it), not sent late.

On a platform whose group posts reach members one by one as app messages (WeCom: a
post with buttons to a robot chat is a card to each of the job's HR users) the posts are
also planned within each member's limits (``[groups] member_limits``,
:mod:`dialogs.kernel.memberbudget`): results while every recipient has room, progress
only while each keeps ``keep_for_results`` free; results that waited together are merged
into as few posts as their buttons allow (``[groups] post_buttons``: a card shows 6).

The budget is the number of outbox rows to that chat in the last minute, read from the
database: replies to HR's own commands (written to the outbox directly) count, a
restart forgets nothing. Each group's release is one transaction whose row updates are
conditional (``WHERE status = 'pending'``): a kill -9 anywhere releases a post either
once or not yet, and two processes never release the same post.

Verbosity per group (``GroupBinding.notify``, set with ``/notify``): ``all``, ``digest``
(progress only in digests), ``results`` (no progress, no digests), ``off`` (nothing),
``auto`` (the default: ``all`` while the job's progress of the last minute fits in the
group's per-minute limit, ``digest`` above it: ``all`` could not deliver it on time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from core.settings import GroupPostSettings
from dialogs.kernel.channel import MemberFanout
from dialogs.kernel.groupdigest import EDITS_IN_PLACE, digest_intent
from dialogs.kernel.groupqueue import effective_mode
from dialogs.kernel.intents import Intent, Send, parse_intent
from dialogs.kernel.memberbudget import MemberLedger, MemberRoom
from dialogs.kernel.outbox import write_intents
from storage.db import Database
from storage.models import GroupBinding, GroupPost, OutboxMessage

_MINUTE = dt.timedelta(minutes=1)
MESSAGE_CHARS = 3800  # a merged post's length where [groups] message_chars does not say


class GroupScheduler:
    """Releases HR-group posts into the outbox within each group's per-minute budget."""

    def __init__(
        self,
        db: Database,
        settings: GroupPostSettings,
        platforms: Iterable[str] | Mapping[str, object],
    ):
        self.db = db
        self.settings = settings
        self._platforms = platforms  # the channels' mapping: channels may be added later
        self.folded = 0  # progress posts folded by this process (metrics, bench)
        self._last: dt.datetime | None = None
        self._ledger = MemberLedger()

    @property
    def platforms(self) -> list[str]:
        return list(self._platforms)

    def _fanout(self, platform: str) -> MemberFanout | None:
        """The platform's messenger when its posts reach members one by one."""
        if platform not in self.settings.member_limits or not isinstance(self._platforms, Mapping):
            return None
        messenger = self._platforms.get(platform)
        return messenger if isinstance(messenger, MemberFanout) else None

    def due(self, now: dt.datetime) -> bool:
        """At most one look per ``tick_seconds`` in a process's delivery loop."""
        if self._last is not None and (now - self._last).total_seconds() < (
            self.settings.tick_seconds
        ):
            return False
        self._last = now
        return True

    def tick(self, now: dt.datetime) -> int:
        """Fold stale progress, release what each group's budget allows; outbox rows written.

        Everything is read first with no transaction open; a group whose budget or queue
        leaves nothing to do opens none (SQLite has one writer: the engine's must not wait)."""
        if not self.platforms:
            return 0
        with self.db.session() as session:
            chats = {
                (p, c)
                for p, c in session.exec(
                    select(GroupPost.platform, GroupPost.chat_id)
                    .where(
                        col(GroupPost.status) == "pending",
                        col(GroupPost.platform).in_(self.platforms),
                    )
                    .distinct()
                )
            }
            bindings = list(
                session.exec(
                    select(GroupBinding).where(col(GroupBinding.platform).in_(self.platforms))
                )
            )
        by_chat: dict[tuple[str, str], list[GroupBinding]] = {}
        for b in bindings:
            by_chat.setdefault((b.platform, b.chat_id), []).append(b)
        written = 0
        for chat in sorted(chats | set(by_chat)):
            try:
                written += self._chat(chat, by_chat.get(chat, []), now)
            except _Raced:  # another process released some of them first: its turn
                continue
        return written

    def _chat(self, chat: tuple[str, str], bindings: list[GroupBinding], now: dt.datetime) -> int:
        platform, chat_id = chat
        stale = now - dt.timedelta(seconds=self.settings.fold_after_seconds)
        with self.db.session() as session:  # what there is to do, read with no lock held
            budget = self._budget(session, platform, chat_id, now)
            waiting = {
                (klass, job_id): oldest
                for klass, job_id, oldest in session.exec(
                    select(GroupPost.klass, GroupPost.job_id, func.min(GroupPost.created_at))
                    .where(
                        GroupPost.platform == platform,
                        GroupPost.chat_id == chat_id,
                        GroupPost.status == "pending",
                    )
                    .group_by(col(GroupPost.klass), col(GroupPost.job_id))
                )
            }
            to_fold: list[tuple[GroupBinding, dt.datetime | None]] = []
            for b in bindings:
                oldest = waiting.get(("progress", b.job_id))
                if oldest is None:
                    continue
                if b.notify == "auto" and effective_mode(session, b, self.settings, now) != "all":
                    to_fold.append((b, None))  # digests now: every waiting progress post
                elif oldest < stale:
                    to_fold.append((b, stale))
            folding = {b.id for b, _ in to_fold}
            due = [
                (b, n)
                for b in bindings
                if (n := self._digest_due(session, b, now, b.id in folding)) is not None
            ]
            if not to_fold and (budget <= 0 or not (due or waiting)):
                return 0
            fanout = self._fanout(platform)
            room = (
                self._ledger.room(
                    session,
                    platform,
                    self.settings.member_limits[platform],
                    fanout.app_messages,
                    now,
                )
                if fanout is not None and waiting and budget > 0
                else None
            )
            # Everything is planned (digests rendered, results merged) here, with no lock
            # held: the transaction below only claims it (the engine's writes queue behind
            # it on SQLite, and candidates' replies behind them).
            digests = [(b, n, digest_intent(session, b, n, now)) for b, n in due[: max(0, budget)]]
            left = budget - len(digests)
            results = self._results(session, platform, chat_id, left, room) if left > 0 else []
            spare = left - len(results) - 1  # one post of the window stays free for a result
            progress = (
                self._progress(session, platform, chat_id, spare, room, to_fold)
                if spare > 0
                else []
            )
        if not (to_fold or digests or results or progress):
            return 0
        with self.db.transaction() as session:
            for b, before in to_fold:
                self._fold_progress(session, b, before)
            out: list[Intent] = []
            for b, newest, intent in digests:  # a due digest first: results can wait a window
                self._claim_digest(session, b, newest, now)
                out.append(intent)
            for group, merged in results:
                self._claim(session, group, "released" if len(group) == 1 else "merged", now)
                out.append(merged)
            if progress:
                self._claim(session, progress, "released", now)
                out += [_send(p) for p in progress]
            if out:
                write_intents(session, out, source_event=None, now=now)
            return len(out)

    def _budget(self, session: Session, platform: str, chat_id: str, now: dt.datetime) -> int:
        """Posts the group may get now: the minute's limit less what it got in the last
        minute, and no more than the window's share (posts spread over the minute, so a
        result never waits for the next minute)."""
        limit = self.settings.limit(platform)
        window = self.settings.window_seconds
        share = max(1, -(-limit * window // 60))
        times = session.exec(
            select(OutboxMessage.created_at).where(
                OutboxMessage.platform == platform,
                OutboxMessage.chat_id == chat_id,
                col(OutboxMessage.created_at) > now - _MINUTE,
            )
        ).all()
        recent = sum(1 for at in times if at > now - dt.timedelta(seconds=window))
        return min(limit - len(times), int(share) - recent)

    def _fold_progress(self, session: Session, b: GroupBinding, before: dt.datetime | None) -> None:
        """The job's progress still waiting in this group (all of it, or what is stale)."""
        query = update(GroupPost).where(
            col(GroupPost.platform) == b.platform,
            col(GroupPost.chat_id) == b.chat_id,
            col(GroupPost.status) == "pending",
            col(GroupPost.klass) == "progress",
            col(GroupPost.job_id) == b.job_id,
        )
        if before is not None:
            query = query.where(col(GroupPost.created_at) < before)
        result = session.execute(query.values(status="folded"))
        self.folded += int(result.rowcount)  # type: ignore[attr-defined]

    def _pending(
        self, session: Session, platform: str, chat_id: str, klass: str, limit: int
    ) -> list[GroupPost]:
        return list(
            session.exec(
                select(GroupPost)
                .where(
                    GroupPost.platform == platform,
                    GroupPost.chat_id == chat_id,
                    GroupPost.status == "pending",
                    GroupPost.klass == klass,
                )
                .order_by(col(GroupPost.id))
                .limit(limit)
            )
        )

    def _claim(
        self, session: Session, posts: list[GroupPost], status: str, now: dt.datetime
    ) -> None:
        """Mark posts released (or merged); another process took one first: roll back."""
        result = session.execute(
            update(GroupPost)
            .where(col(GroupPost.id).in_([p.id for p in posts]), col(GroupPost.status) == "pending")
            .values(status=status, released_at=now)
        )
        if int(result.rowcount) != len(posts):  # type: ignore[attr-defined]
            raise _Raced()  # rolls the group's whole transaction back

    def _results(
        self,
        session: Session,
        platform: str,
        chat_id: str,
        budget: int,
        room: MemberRoom | None,
    ) -> list[tuple[list[GroupPost], Intent]]:
        """Results to post, oldest first, each with its post; merged when more waited than
        the group's budget (or its members' room for app messages) sends one by one."""
        cap = budget * self.settings.merge_results
        posts = self._pending(session, platform, chat_id, "result", cap)
        if not posts:
            return []
        if room is not None:
            budget = min(budget, room.fits(_send(posts[0])))
        chars = self.settings.message_chars.get(platform, MESSAGE_CHARS)
        if len(posts) <= budget:  # each one fits: sent as it is (editable later by its ref)
            groups = [[p] for p in posts]
        else:  # more waited than the budget sends: several per post, oldest first
            most_buttons = self.settings.post_buttons.get(platform, 1 << 30)
            groups = _packed(posts, self.settings.merge_results, chars, most_buttons)[:budget]
        out: list[tuple[list[GroupPost], Intent]] = []
        for group in groups:
            merged = _merge(group, chars)
            if room is not None and not room.take(merged):
                break  # a member has no room left: the rest waits, in order
            out.append((group, merged))
        return out

    def _progress(
        self,
        session: Session,
        platform: str,
        chat_id: str,
        budget: int,
        room: MemberRoom | None,
        to_fold: list[tuple[GroupBinding, dt.datetime | None]],
    ) -> list[GroupPost]:
        """Progress to post, oldest first (none that this round folds)."""
        folding = {b.job_id: before for b, before in to_fold}
        posts = [
            p
            for p in self._pending(session, platform, chat_id, "progress", budget + len(folding))
            if p.job_id not in folding
            or (before := folding[p.job_id]) is not None
            and p.created_at >= before
        ][:budget]
        if room is not None:  # only while each member keeps room for results to come
            keep = room.limits.keep_for_results
            for n, post in enumerate(posts):
                if not room.take(_send(post), keep=keep):
                    return posts[:n]
        return posts

    def _unposted(self, session: Session, b: GroupBinding) -> bool:
        return (
            session.exec(
                select(GroupPost.id).where(
                    GroupPost.job_id == b.job_id,
                    GroupPost.platform == b.platform,
                    GroupPost.chat_id == b.chat_id,
                    col(GroupPost.id) > b.digest_cursor,
                    col(GroupPost.status).in_(["folded", "digest"]),
                )
            ).first()
            is not None
        )

    def _digest_due(
        self, session: Session, b: GroupBinding, now: dt.datetime, folding: bool
    ) -> int | None:
        """The newest post a due digest of this binding reports, or None (``folding``: some
        of its progress is being folded in this round)."""
        if b.notify in ("results", "off"):
            return None
        newest, oldest_at = session.exec(
            select(func.max(GroupPost.id), func.min(GroupPost.created_at)).where(
                GroupPost.job_id == b.job_id,
                GroupPost.platform == b.platform,
                GroupPost.chat_id == b.chat_id,
                col(GroupPost.id) > b.digest_cursor,
            )
        ).one()
        if newest is None:
            return None
        every = (
            self.settings.status_seconds
            if b.platform in EDITS_IN_PLACE
            else self.settings.digest_seconds
        )
        since = b.digest_at or oldest_at
        if since is not None and (now - since).total_seconds() < every:
            return None
        if b.platform not in EDITS_IN_PLACE and not folding and not self._unposted(session, b):
            return None  # every event was posted as it came: a digest would repeat them
        return int(newest)

    def _claim_digest(
        self, session: Session, b: GroupBinding, newest: int, now: dt.datetime
    ) -> None:
        claimed = session.execute(
            update(GroupBinding)
            .where(col(GroupBinding.id) == b.id, col(GroupBinding.digest_cursor) == b.digest_cursor)
            .values(digest_cursor=newest, digest_at=now, status_sent=True)
        )
        if int(claimed.rowcount) != 1:  # type: ignore[attr-defined]
            raise _Raced()


class _Raced(Exception):
    """Another process released a post (or a digest) this one was about to."""


def _send(post: GroupPost) -> Send:
    intent = parse_intent(post.payload)
    assert isinstance(intent, Send)
    return intent


def _packed(
    posts: list[GroupPost], most: int, chars: int, most_buttons: int
) -> list[list[GroupPost]]:
    """Consecutive posts packed into groups of at most ``most`` that fit in one message
    (its text, and its buttons where a platform shows only so many)."""
    groups: list[list[GroupPost]] = []
    size = buttons = 0
    for post in posts:
        send = _send(post)
        length = len(send.text) + 2
        count = sum(len(row) for row in send.buttons)
        if (
            not groups
            or len(groups[-1]) >= most
            or size + length > chars
            or buttons + count > most_buttons
        ):
            groups.append([])
            size = buttons = 0
        groups[-1].append(post)
        size += length
        buttons += count
    return groups


def _merge(posts: list[GroupPost], chars: int) -> Send:
    """Results that waited together: one post, each one's buttons labelled with its #id
    (a later edit of one of them is posted anew: the dispatcher's merged-target rule)."""
    sends = [_send(p) for p in posts]
    if len(sends) == 1:
        return sends[0]
    rows = [
        [b.model_copy(update={"label": f"#{p.candidate_id} {b.label}"}) for b in row]
        if p.candidate_id is not None
        else row
        for p, s in zip(posts, sends, strict=True)
        for row in s.buttons
    ]
    return Send(
        platform=sends[0].platform,
        chat_id=sends[0].chat_id,
        text="\n\n".join(s.text for s in sends)[:chars],
        buttons=rows[:90],
    )
