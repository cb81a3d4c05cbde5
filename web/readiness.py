"""``/readyz``: whether this front process should get traffic from the load balancer.

``/healthz`` says the process is alive; readiness says it can do its work now: it is not
shutting down (SIGTERM turns readiness off first, then the process drains), the database
answers, its schema is at the migrations' head, and, when configured, the Celery broker
and the Redis that holds the shared send budget answer. The reason given when not ready
is one fixed phrase: never a URL, an address or an exception's text.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from sqlalchemy import text

from app.host import App

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 1.0


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The revisions the code's migrations end at."""
    from alembic.script import ScriptDirectory

    from storage.migrate import MIGRATIONS

    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def not_ready(app: App) -> str | None:
    """Why this process is not ready (a fixed phrase), or None when it is. Blocking."""
    if app.draining:
        return "shutting down"
    try:
        with app.db.engine.connect() as conn:
            revisions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except Exception as exc:
        log.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return "database unreachable"
    if revisions != migration_heads():
        return "database schema is not at the migrations' head (python main.py db upgrade)"
    settings = app.settings
    if settings.workers.backend == "celery" and not _broker_ok(
        settings.workers.broker_url.get_secret_value()
    ):
        return "job broker unreachable"
    url = settings.ratelimit.redis_url
    if url is not None and url.get_secret_value() and not _redis_ok(url.get_secret_value()):
        return "redis unreachable"
    return None


def _broker_ok(url: str) -> bool:
    from kombu.connection import Connection

    try:
        with Connection(url, connect_timeout=TIMEOUT_SECONDS) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("readiness: job broker unreachable (%s)", type(exc).__name__)
        return False
    return True


def _redis_ok(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        log.warning("readiness: redis unreachable (%s)", type(exc).__name__)
        return False
    finally:
        client.close()
    return True
