"""One-time sign-in links and browser sessions of the HR web console.

A link is a random token (32 bytes, URL-safe) handed out once: only its SHA-256 is
stored (``KeyValue`` ``console_link:<hash>``, the value encrypted like every field),
with the identity it is bound to and a 10-minute expiry. Redeeming it deletes the row
in one conditional ``DELETE`` (two tabs racing: one wins) and leaves a ``used`` marker,
so a second use is refused as *used*, a late one as *expired*, anything else as
*unknown*. A session is another random secret, stored hashed the same way
(``console_session:<hash>``) with its CSRF token and language; signing out deletes it.
Roles are never stored in a session: every request asks :func:`dialogs.kernel.roles.authorize`.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, col

from core.clock import as_utc
from dialogs.kernel.context import Services
from storage.db import Database
from storage.kv import kv_purge_expired
from storage.models import KeyValue

LINK_TTL = dt.timedelta(minutes=10)
SESSION_TTL = dt.timedelta(hours=8)
USED_MARK_TTL = dt.timedelta(days=1)
LOGIN_PATH = "/console/login/"
_LINK = "console_link:"
_USED = "console_used:"
_SESSION = "console_session:"


class LinkProblem(enum.Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


class LinkRefused(Exception):
    def __init__(self, problem: LinkProblem, lang: str | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.lang = lang  # the language of the person the link was for, when known


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in browser: who it is (``platform``, ``user_id``), its CSRF token, language."""

    key: str
    platform: str
    user_id: str
    csrf: str
    lang: str
    expires_at: dt.datetime

    @property
    def actor(self) -> str:
        return f"{self.platform}:{self.user_id}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _plausible(token: str) -> bool:
    return (
        20 <= len(token) <= 100
        and token.isascii()
        and token.replace("-", "").replace("_", "").isalnum()
    )


def create_link(session: Session, platform: str, user_id: str, lang: str, now: dt.datetime) -> str:
    """A new one-time token bound to ``platform:user_id``; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    value = json.dumps({"platform": platform, "user_id": user_id, "lang": lang})
    session.add(KeyValue(key=_LINK + token_hash(token), value=value, expires_at=now + LINK_TTL))
    session.flush()
    return token


def link_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + LOGIN_PATH + token


def redeem_link(session: Session, token: str, now: dt.datetime) -> ConsoleSession:
    """Use a link once: a new browser session for its identity, or :class:`LinkRefused`."""
    if not _plausible(token):
        raise LinkRefused(LinkProblem.UNKNOWN)
    digest = token_hash(token)
    row = session.get(KeyValue, _LINK + digest)
    if row is None:
        used = session.get(KeyValue, _USED + digest)
        if used is not None:
            raise LinkRefused(LinkProblem.USED, json.loads(used.value).get("lang"))
        raise LinkRefused(LinkProblem.UNKNOWN)
    data = json.loads(row.value)
    lang = str(data.get("lang", "zh"))
    expired = row.expires_at is not None and as_utc(row.expires_at) <= now
    taken = session.execute(delete(KeyValue).where(col(KeyValue.key) == _LINK + digest)).rowcount  # type: ignore[attr-defined]
    if expired:
        raise LinkRefused(LinkProblem.EXPIRED, lang)
    if taken != 1:  # another request redeemed it first
        raise LinkRefused(LinkProblem.USED, lang)
    session.expunge(row)
    marker = json.dumps({"lang": lang})
    session.add(KeyValue(key=_USED + digest, value=marker, expires_at=now + USED_MARK_TTL))
    return start_session(session, data["platform"], data["user_id"], lang, now)


def link_language(session: Session, token: str) -> str | None:
    """The language of the person a link (live or used) was made for; nothing is spent."""
    if not _plausible(token):
        return None
    digest = token_hash(token)
    row = session.get(KeyValue, _LINK + digest) or session.get(KeyValue, _USED + digest)
    if row is None:
        return None
    lang = json.loads(row.value).get("lang")
    return lang if lang in ("zh", "en") else None


def start_session(
    session: Session, platform: str, user_id: str, lang: str, now: dt.datetime
) -> ConsoleSession:
    """A new browser session; the returned ``key`` is the cookie's secret (not stored)."""
    secret = secrets.token_urlsafe(32)
    value = {
        "platform": platform,
        "user_id": user_id,
        "csrf": secrets.token_urlsafe(24),
        "lang": lang if lang in ("zh", "en") else "zh",
    }
    expires = now + SESSION_TTL
    session.add(
        KeyValue(key=_SESSION + token_hash(secret), value=json.dumps(value), expires_at=expires)
    )
    session.flush()
    return ConsoleSession(secret, platform, user_id, value["csrf"], value["lang"], expires)


def load_session(session: Session, secret: str | None, now: dt.datetime) -> ConsoleSession | None:
    """The live session of a cookie's secret, else None (expired rows are deleted)."""
    if not secret or not _plausible(secret):
        return None
    row = session.get(KeyValue, _SESSION + token_hash(secret))
    if row is None:
        return None
    if row.expires_at is None or as_utc(row.expires_at) <= now:
        session.delete(row)
        return None
    data = json.loads(row.value)
    return ConsoleSession(
        secret,
        data["platform"],
        data["user_id"],
        data["csrf"],
        data["lang"],
        as_utc(row.expires_at),
    )


def set_language(session: Session, secret: str, lang: str) -> None:
    row = session.get(KeyValue, _SESSION + token_hash(secret))
    if row is not None and lang in ("zh", "en"):
        data = json.loads(row.value)
        data["lang"] = lang
        row.value = json.dumps(data)
        session.add(row)


def end_session(session: Session, secret: str) -> None:
    session.execute(delete(KeyValue).where(col(KeyValue.key) == _SESSION + token_hash(secret)))


def purge_expired(db: Database, services: Services) -> int:
    """Periodic (the scheduler's leader, each tick): delete expired links, used-link
    markers, sessions and OAuth sign-in states."""
    from dialogs.console.oauth import PREFIX as OAUTH_STATE

    return kv_purge_expired(db, (_LINK, _USED, _SESSION, OAUTH_STATE), services.clock.now())
