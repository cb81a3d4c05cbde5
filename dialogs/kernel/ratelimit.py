"""Per-user rate limits: a token bucket per (platform, user), in memory.

Every event takes a token from the user's message bucket; commands and button presses
also take one from a smaller command bucket (they cost more: exports, look-ups). The
check is in memory and touches no database, so the normal path costs nothing extra.

What happens to an event over the limit (decided here, documented in the README):

* It is still stored in the inbox (nothing is lost without a trace), marked
  ``throttled`` and **dropped**, not processed later. Replaying a flood later would
  answer stale input out of order (a burst of "/resume" or button presses) and turn a
  flood into a queue of thousands; a person who was slowed down simply sends again.
* The user is told: the first throttled event of a window gets ONE polite reply in the
  user's language (``common.slow_down``); further throttled events in the same window
  (``[ratelimit] notice_seconds``) get nothing, so a flood cannot make the bot flood.
* Operators listed in ``config.toml [roles]`` are trusted and not limited (a DB-free
  check); staff granted by command are limited like everyone else.

Buckets live in one process. With several engine processes each has its own buckets,
so the effective limit is per process; that still stops a flood from one chat.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col

from core.clock import Clock
from core.settings import Settings
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Services
from dialogs.kernel.events import ButtonPressed, CommandReceived, Event
from dialogs.kernel.intents import AnswerButton, Intent, Send
from dialogs.kernel.outbox import write_intents
from storage.models import InboxEvent

log = logging.getLogger(__name__)

THROTTLED = "throttled"
_PRUNE_AT = 10_000  # buckets kept in memory before idle ones are dropped


class Verdict(enum.Enum):
    ALLOW = "allow"
    WARN = "warn"  # over the limit: drop it and tell the user (once per window)
    DROP = "drop"  # over the limit, user already told in this window


@dataclass
class _Bucket:
    tokens: float
    command_tokens: float
    at: float
    warned_until: float = float("-inf")


class RateLimiter:
    """Token buckets per (platform, user id); thread-safe, no I/O."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.limits = settings.ratelimit
        self.trusted = set(settings.roles.admins) | set(settings.roles.hr_managers)
        self.trusted |= set(settings.roles.hr_viewers)
        self.clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self.throttled = 0  # events refused since start (for metrics and tests)

    def check(self, event: Event) -> Verdict:
        """Take tokens for ``event``; what to do with it."""
        limits = self.limits
        if not limits.enabled or f"{event.platform}:{event.user_id}" in self.trusted:
            return Verdict.ALLOW
        now = self.clock.now().timestamp()
        costly = isinstance(event, CommandReceived | ButtonPressed)
        key = (event.platform, event.user_id)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _PRUNE_AT:
                    self._prune(now)
                bucket = _Bucket(float(limits.burst), float(limits.command_burst), now)
                self._buckets[key] = bucket
            elapsed = max(0.0, now - bucket.at)
            bucket.at = max(bucket.at, now)
            bucket.tokens = min(
                float(limits.burst), bucket.tokens + elapsed * limits.per_minute / 60
            )
            bucket.command_tokens = min(
                float(limits.command_burst),
                bucket.command_tokens + elapsed * limits.command_per_minute / 60,
            )
            if bucket.tokens >= 1 and (not costly or bucket.command_tokens >= 1):
                bucket.tokens -= 1
                if costly:
                    bucket.command_tokens -= 1
                return Verdict.ALLOW
            self.throttled += 1
            if now >= bucket.warned_until:
                bucket.warned_until = now + limits.notice_seconds
                return Verdict.WARN
            return Verdict.DROP

    def _prune(self, now: float) -> None:
        """Forget buckets that are full again and not in a warning window."""
        limits = self.limits
        refill = max(
            limits.burst / limits.per_minute, limits.command_burst / limits.command_per_minute
        )
        idle = [
            key
            for key, b in self._buckets.items()
            if now - b.at >= refill * 60 and now >= b.warned_until
        ]
        for key in idle:
            del self._buckets[key]


def throttle(session: Session, event: Event, verdict: Verdict, services: Services) -> list[Intent]:
    """Mark the stored inbox row ``throttled`` and, on WARN, reply once (same transaction)."""
    from dialogs.kernel.router import language_of  # the router imports the flows; import late

    now = services.clock.now()
    session.execute(
        update(InboxEvent)
        .where(col(InboxEvent.event_id) == event.event_id)
        .values(status=THROTTLED, processed_at=now, error="rate limited")
    )
    if verdict is not Verdict.WARN:
        return []
    lang = language_of(session, event, services)
    text = t(lang, "common.slow_down")
    intents: list[Intent] = [Send(platform=event.platform, chat_id=event.chat_id, text=text)]
    if isinstance(event, ButtonPressed) and event.callback_id:
        intents.insert(
            0,
            AnswerButton(
                platform=event.platform, chat_id=event.chat_id, callback_id=event.callback_id
            ),
        )
    write_intents(session, intents, source_event=event.event_id, now=now)
    log.info("rate limit: %s user throttled; told once for this window", event.platform)
    return intents
