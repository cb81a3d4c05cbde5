"""What each member may still receive as app messages (WeCom ``message/send``).

A WeCom group robot posts to the group, but a post with buttons becomes a template card
sent as an **application message** to each of the job's HR users, and replies to HR's
own commands are application messages too. WeCom drops, without an error, what goes
over ``[groups.member_limits.wecom]`` (30 a minute and 1,000 an hour per member; seats
x 200 person-times a day per app). The group scheduler plans such posts with
:class:`MemberRoom`: results while every recipient has room, progress only while each
keeps ``keep_for_results`` of a minute's limit (and that share of the hour's and the
day's) free for results to come.

What a member already received is read from the outbox, like a group's budget: every
row of the platform that is not failed, at its ``sent_at`` (or *now* while it is still
``pending``/``sending``: it will go out soon), costed by the messenger
(:class:`~dialogs.kernel.channel.MemberFanout`). A row counts from its release until a
minute (an hour, a day) after it was sent, so what the planner releases never puts a
member over a limit; replies written straight to the outbox have the
``keep_for_replies`` share of each minute that planning leaves free.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, col, select

from core.settings import MemberLimits
from dialogs.kernel.intents import Intent, parse_intent
from storage.models import OutboxMessage

Fanout = Callable[[Session, Intent], Counter[str]]
"""An intent -> the app messages each member receives for it (empty: none)."""

_DAY = dt.timedelta(days=1)
_HOUR = dt.timedelta(hours=1)
_MINUTE = dt.timedelta(minutes=1)
_LATE = dt.timedelta(minutes=1)  # a row committed this long after its created_at is still seen


class MemberRoom:
    """How many more app messages each member (and the app) may get now."""

    def __init__(
        self,
        limits: MemberLimits,
        fanout: Fanout,
        session: Session,
        *,
        minute: Counter[str],
        hour: Counter[str],
        day: int,
    ) -> None:
        self.limits = limits
        self._fanout = fanout
        self.session = session  # where recipients are looked up (the caller's, when it ends)
        self.minute = minute
        self.hour = hour
        self.day = day
        self._costs: dict[str, Counter[str]] = {}

    def fanout(self, intent: Intent) -> Counter[str]:
        key = intent.model_dump_json()
        if key not in self._costs:
            self._costs[key] = self._fanout(self.session, intent)
        return self._costs[key]

    def _share(self, limit: int, keep: int) -> int:
        """``limit`` less the part ``keep`` (a minute's worth) stands for."""
        return limit - -(-limit * keep // self.limits.per_minute)

    def left(self, member: str, keep: int = 0) -> int:
        """Planned messages the member may still get (the replies' share kept free, and
        ``keep`` a minute for results: the same share of the hour)."""
        lim = self.limits
        return min(
            lim.per_minute - lim.keep_for_replies - keep - self.minute[member],
            self._share(lim.per_hour, keep) - self.hour[member],
        )

    def _day_left(self, keep: int) -> int:
        return self._share(self.limits.per_day, keep) - self.day

    def fits(self, intent: Intent, *, keep: int = 0) -> int:
        """How many posts like ``intent`` fit now."""
        cost = self.fanout(intent)
        if not cost:
            return 1 << 30
        each = min(self.left(m, keep) // n for m, n in cost.items())
        return max(0, min(each, self._day_left(keep) // sum(cost.values())))

    def take(self, intent: Intent, *, keep: int = 0) -> bool:
        """Count the intent in if every member it reaches has room; False (nothing
        counted) when one has not."""
        cost = self.fanout(intent)
        if not cost:
            return True
        if any(self.left(m, keep) < n for m, n in cost.items()):
            return False
        if self._day_left(keep) < sum(cost.values()):
            return False
        self.minute.update(cost)
        self.hour.update(cost)
        self.day += sum(cost.values())
        return True


@dataclass
class _Row:
    cost: Counter[str]
    created: dt.datetime
    sent: dt.datetime | None  # None: pending or sending


class MemberLedger:
    """What members received, read from the outbox incrementally (a row's payload is
    encrypted and a busy day holds thousands: each is costed once, and only rows not
    sent yet or new since the last look are read again)."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[int, _Row]] = {}  # platform -> outbox id -> its row
        self._seen: dict[str, dt.datetime] = {}  # platform -> when it was last read

    def room(
        self,
        session: Session,
        platform: str,
        limits: MemberLimits,
        fanout: Fanout,
        now: dt.datetime,
    ) -> MemberRoom:
        since = self._seen.get(platform, now - _DAY - _LATE) - _LATE
        known_rows = self._rows.setdefault(platform, {})
        unsent = [rid for rid, r in known_rows.items() if r.sent is None]
        rows = session.exec(
            select(
                OutboxMessage.id,
                OutboxMessage.status,
                OutboxMessage.created_at,
                OutboxMessage.sent_at,
            ).where(
                OutboxMessage.platform == platform,
                or_(col(OutboxMessage.created_at) > since, col(OutboxMessage.id).in_(unsent)),
            )
        ).all()
        self._seen[platform] = now
        new = [rid for rid, _, _, _ in rows if rid is not None and rid not in known_rows]
        costs: dict[int, Counter[str]] = {}
        for chunk in range(0, len(new), 500):
            for rid, payload in session.exec(
                select(OutboxMessage.id, OutboxMessage.payload).where(
                    col(OutboxMessage.id).in_(new[chunk : chunk + 500])
                )
            ):
                costs[rid or 0] = fanout(session, parse_intent(payload))
        for rid, status, created, sent_at in rows:
            key = rid or 0
            if status == "failed":
                known_rows.pop(key, None)
                continue
            known = known_rows.get(key)
            cost = known.cost if known is not None else costs.get(key, Counter())
            known_rows[key] = _Row(cost, created, sent_at if status == "sent" else None)
        minute: Counter[str] = Counter()
        hour: Counter[str] = Counter()
        day = 0
        for key, row in list(known_rows.items()):
            at = row.sent or now
            if at <= now - _DAY or (not row.cost and row.created <= now - 2 * _LATE):
                del known_rows[key]  # out of every window (or costs nothing, and seen)
                continue
            day += sum(row.cost.values())
            if at > now - _HOUR:
                hour.update(row.cost)
            if at > now - _MINUTE:
                minute.update(row.cost)
        return MemberRoom(limits, fanout, session, minute=minute, hour=hour, day=day)
