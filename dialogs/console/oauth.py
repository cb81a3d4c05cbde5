"""The state of an OAuth sign-in to the console (WeCom): signed, bound to the browser,
single use, 10 minutes.

``state`` is ``<nonce><signature>`` in hex (WeCom allows ``a-zA-Z0-9``, 128 bytes):
a random nonce and an HMAC-SHA256 of it under a key of this deployment, so a forged
state is refused before anything is looked up. The browser that started the sign-in
keeps the nonce in a cookie; the database keeps only the nonce's SHA-256
(``KeyValue`` ``console_oauth:<hash>``) until the callback, which deletes it in one
conditional ``DELETE``: a state used twice, late, from another browser or never issued
is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import delete
from sqlmodel import Session, col

from core.clock import as_utc
from storage.models import KeyValue

STATE_TTL = dt.timedelta(minutes=10)
PREFIX = "console_oauth:"
_NONCE_HEX = 32
_SIG_HEX = 32


def _sign(key: bytes, nonce: str) -> str:
    mac = hmac.new(key, b"console-oauth-state|" + nonce.encode("ascii"), hashlib.sha256)
    return mac.hexdigest()[:_SIG_HEX]


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


def new_state(session: Session, key: bytes, now: dt.datetime) -> tuple[str, str]:
    """A new sign-in attempt: (state for the authorize URL, nonce for the browser's cookie)."""
    nonce = secrets.token_hex(_NONCE_HEX // 2)
    session.add(KeyValue(key=PREFIX + _digest(nonce), value="1", expires_at=now + STATE_TTL))
    session.flush()
    return nonce + _sign(key, nonce), nonce


def nonce_of(key: bytes, state: object) -> str | None:
    """The nonce of a state this deployment signed, else None (nothing is looked up)."""
    if not isinstance(state, str) or len(state) != _NONCE_HEX + _SIG_HEX:
        return None
    if any(ch not in "0123456789abcdef" for ch in state):
        return None
    nonce, signature = state[:_NONCE_HEX], state[_NONCE_HEX:]
    return nonce if hmac.compare_digest(signature, _sign(key, nonce)) else None


def redeem_state(
    session: Session, key: bytes, state: object, browser_nonce: str | None, now: dt.datetime
) -> bool:
    """Spend a state once: True when it is signed, was issued to this browser (its
    cookie), is unused and not expired."""
    nonce = nonce_of(key, state)
    if nonce is None or not browser_nonce or not hmac.compare_digest(nonce, browser_nonce):
        return False
    row_key = PREFIX + _digest(nonce)
    row = session.get(KeyValue, row_key)
    if row is None:
        return False
    fresh = row.expires_at is not None and as_utc(row.expires_at) > now
    session.expunge(row)
    taken = session.execute(delete(KeyValue).where(col(KeyValue.key) == row_key)).rowcount  # type: ignore[attr-defined]
    return fresh and taken == 1
