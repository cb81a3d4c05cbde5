"""Bot-wide send budgets: how many outbox messages a platform's bot may send now.

Telegram allows a bot about 30 messages a second, per bot, not per process. The
dispatcher asks a :class:`BotBudget` before it claims a round: ``grant(platform,
direct, to_groups)`` answers how many of the round's messages to private chats
(candidates' replies) and to HR groups may go now; the rest stay ``pending`` for a
later round (the earliest of each chat, so no chat's order changes).

* :class:`LocalBotBudget` (the default): a token bucket in this process. Replies always
  go (they are counted); HR-group posts only while the bucket has room left.
* :class:`RedisBotBudget` (``[ratelimit] redis_url``): one bucket per platform and bot
  shared by every process through an atomic Lua script on Redis' own clock. Replies
  take what the bucket holds; HR-group posts only what lies above the share kept for
  replies (``[ratelimit] group_share``). The key names the platform and the bot's
  public id (a Telegram token's numeric part, the WeChat app id), never a secret. When
  Redis cannot be reached it falls back to the local bucket, with one warning, and
  tries Redis again a little later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from core.clock import Clock
from core.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "interviewer:botbudget:"
RETRY_SECONDS = 15.0  # after a Redis failure, the local bucket this long

# KEYS[1]: the bucket. ARGV: rate a second, burst, tokens kept for replies, replies
# wanted, group posts wanted, key TTL in ms. Returns {replies granted, posts granted}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local floor = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local direct = math.max(0, math.min(tonumber(ARGV[4]), math.floor(tokens)))
tokens = tokens - direct
local groups = math.max(0, math.min(tonumber(ARGV[5]), math.floor(tokens - floor)))
tokens = tokens - groups
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'at', string.format('%.6f', at))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {direct, groups}
"""


class BotBudget(Protocol):
    def grant(self, platform: str, direct: int, to_groups: int) -> tuple[int, int]:
        """How many of ``direct`` replies and ``to_groups`` HR-group posts may go now."""
        ...


class LocalBotBudget:
    """A bucket per platform in this process (``[groups] bot_per_second``)."""

    def __init__(self, rates: Mapping[str, float], clock: Clock) -> None:
        self.rates = rates
        self.clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}  # platform -> (tokens, at)

    def grant(self, platform: str, direct: int, to_groups: int) -> tuple[int, int]:
        rate = self.rates.get(platform)
        if rate is None:
            return direct, to_groups
        now = self.clock.now().timestamp()
        tokens, at = self._tokens.get(platform, (rate, now))
        tokens = min(rate, tokens + max(0.0, now - at) * rate) - direct
        posts = max(0, min(to_groups, int(tokens)))
        self._tokens[platform] = (tokens - posts, now)
        return direct, posts


class RedisBotBudget:
    """One bucket per (platform, bot) for every process, kept in Redis."""

    def __init__(
        self,
        client: Any,
        rates: Mapping[str, float],
        bot_ids: Mapping[str, str],
        *,
        group_share: float,
        fallback: BotBudget,
        prefix: str = KEY_PREFIX,
    ) -> None:
        self.client = client
        self.rates = rates
        self.bot_ids = bot_ids
        self.group_share = group_share
        self.fallback = fallback
        self.prefix = prefix
        self._script = client.register_script(_TAKE)
        self._down_until = float("-inf")
        self.fallbacks = 0  # rounds granted locally because Redis failed (tests, metrics)

    def key(self, platform: str) -> str:
        return f"{self.prefix}{platform}:{self.bot_ids.get(platform, 'default')}"

    def grant(self, platform: str, direct: int, to_groups: int) -> tuple[int, int]:
        rate = self.rates.get(platform)
        if rate is None:
            return direct, to_groups
        if time.monotonic() < self._down_until:
            self.fallbacks += 1
            return self.fallback.grant(platform, direct, to_groups)
        import redis

        burst = max(1.0, rate)
        floor = burst * (1 - self.group_share)
        try:
            granted = self._script(
                keys=[self.key(platform)],
                args=[rate, burst, floor, direct, to_groups, 60_000],
            )
        except redis.RedisError as exc:
            if self._down_until == float("-inf"):
                log.warning(
                    "shared bot budget: Redis unreachable (%s); each process limits its own "
                    "sends until it is back",
                    type(exc).__name__,
                )
            self._down_until = time.monotonic() + RETRY_SECONDS
            self.fallbacks += 1
            return self.fallback.grant(platform, direct, to_groups)
        if self._down_until != float("-inf"):
            log.info("shared bot budget: Redis reachable again")
            self._down_until = float("-inf")
        return int(granted[0]), int(granted[1])


def bot_ids(settings: Settings) -> dict[str, str]:
    """Each platform's public bot id (the bucket's name); never a secret."""
    ids: dict[str, str] = {}
    token = settings.telegram.token
    if token is not None:
        ids["telegram"] = token.get_secret_value().split(":", 1)[0]
    if settings.wechat.app_id:
        ids["wechat"] = settings.wechat.app_id
    if settings.wechat.corp_id:
        ids["wecom"] = f"{settings.wechat.corp_id}-{settings.wechat.agent_id or ''}"
    return ids


def build_bot_budget(settings: Settings, clock: Clock) -> BotBudget:
    """The shared budget when ``[ratelimit] redis_url`` is set, else this process's own."""
    rates = settings.groups.bot_per_second
    local = LocalBotBudget(rates, clock)
    url = settings.ratelimit.redis_url
    if url is None or not url.get_secret_value():
        return local
    import redis

    client = redis.Redis.from_url(
        url.get_secret_value(), socket_connect_timeout=0.5, socket_timeout=0.5
    )
    return RedisBotBudget(
        client,
        rates,
        bot_ids(settings),
        group_share=settings.ratelimit.group_share,
        fallback=local,
    )
