"""Invitations: unguessable expiring tokens, identity codes, links and QR codes.

A token is handed out once, in the ways to start that the enabled channels offer
(:mod:`dialogs.invitations.channels`: the HR reply, the e-mail, the PDF sheet, the WeChat
scene QR code); the database keeps only its SHA-256 (``Invitation.token_hash``)
and looks invitations up by it, like contract signing links. Background jobs that
print or send a link carry its token encrypted under the keyring (:func:`seal_tokens`)
and drop it when done. A link that is lost cannot be shown again: :func:`reissue`
gives an invitation a new token, and the old link stops working.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import qrcode
from sqlmodel import Session, select

from core.errors import CryptoError
from core.settings import Settings
from storage.crypto import new_token, token_hash
from storage.models import Candidate, Invitation, Job
from storage.types import current_keyring

log = logging.getLogger(__name__)

TOKEN_BYTES = 18  # as new_token(): 24 URL-safe characters


@dataclass
class NewInvitation:
    candidate: Candidate
    invitation: Invitation
    code: str
    token: str  # the link's token: only here, never stored


def invite_candidate(
    session: Session,
    settings: Settings,
    job: Job,
    *,
    name: str,
    now: dt.datetime,
    phone: str | None = None,
    email: str | None = None,
    preferred_channel: str | None = None,
    blind_index: object = None,
) -> NewInvitation:
    """Create a candidate and an invitation valid for ``interview.invitation_days``."""
    keyring = current_keyring()
    candidate = Candidate(
        job_id=job.id or 0,
        name=name.strip(),
        phone=phone,
        phone_hash=keyring.blind_index(phone) if phone else None,
        email=email,
        email_hash=keyring.blind_index(email) if email else None,
        preferred_channel=preferred_channel,
        created_at=now,
    )
    session.add(candidate)
    session.flush()
    code = f"{secrets.randbelow(1_000_000):06d}"
    token = new_token(TOKEN_BYTES)
    invitation = Invitation(
        token_hash=token_hash(token),
        candidate_id=candidate.id or 0,
        job_id=job.id or 0,
        code=code,
        expires_at=now + dt.timedelta(days=settings.interview.invitation_days),
        created_at=now,
    )
    session.add(invitation)
    session.flush()
    return NewInvitation(candidate=candidate, invitation=invitation, code=code, token=token)


def find_invitation(session: Session, token: str) -> Invitation | None:
    """The invitation a link's token opens (looked up by its hash)."""
    if not token or len(token) > 64:
        return None
    return session.exec(
        select(Invitation).where(Invitation.token_hash == token_hash(token))
    ).first()


def reissue(session: Session, invitations: Iterable[Invitation]) -> dict[int, str]:
    """New tokens for these invitations (their old links stop working).

    Returns:
        invitation id -> the new token, to hand out now (it is not kept).
    """
    tokens: dict[int, str] = {}
    for invitation in invitations:
        token = new_token(TOKEN_BYTES)
        invitation.token_hash = token_hash(token)
        session.add(invitation)
        tokens[invitation.id or 0] = token
    return tokens


# -------------------------------------------------------- tokens for background jobs
def new_seed() -> str:
    """A secret (encrypted) from which a batch of invitations derives its tokens.

    The bulk import invites in many transactions and prints every link at the end; one
    encrypted seed in the job's payload replaces thousands of encrypted tokens.
    """
    return seal_text(base64.b64encode(secrets.token_bytes(32)).decode("ascii"))


def batch_tokens(seed: str, candidate_ids: Iterable[int]) -> dict[int, str]:
    """The tokens of candidates invited under ``seed`` (a :func:`new_seed`), by candidate id."""
    key = base64.b64decode(current_keyring().decrypt_text(seed))
    return {
        cid: base64.urlsafe_b64encode(
            hmac.new(key, f"invitation:{cid}".encode(), hashlib.sha256).digest()[:TOKEN_BYTES]
        ).decode("ascii")
        for cid in candidate_ids
    }


def seal_text(value: str) -> str:
    """Encrypt a token (or a seed) for a background job's payload, which is plain JSON."""
    return current_keyring().encrypt_text(value)


def seal_tokens(tokens: dict[int, str]) -> str:
    """Invitation id -> token, encrypted as one value for a job's payload."""
    return seal_text(json.dumps({str(k): v for k, v in tokens.items()}, separators=(",", ":")))


def unseal_tokens(sealed: object) -> dict[int, str] | None:
    """The tokens a job's payload carries (:func:`seal_tokens`), for :func:`tokens_to_hand_out`.

    ``{}`` once the job has used them (blanked); ``None`` when there are none to read: a
    job queued before tokens were hashed, or one whose key was rotated out meanwhile.
    """
    if sealed is None:
        return None
    if not sealed:
        return {}
    try:
        raw = json.loads(current_keyring().decrypt_text(str(sealed)))
    except CryptoError:
        log.warning("a job's sealed invitation tokens no longer decrypt; issuing new ones")
        return None
    return {int(k): str(v) for k, v in raw.items()}


def unseal_token(sealed: object, invitation_id: int) -> dict[int, str] | None:
    """:func:`unseal_tokens` for a payload that carries one token (:func:`seal_text`)."""
    if sealed is None:
        return None
    if not sealed:
        return {}
    try:
        return {invitation_id: current_keyring().decrypt_text(str(sealed))}
    except CryptoError:
        log.warning("a job's sealed invitation token no longer decrypts; issuing a new one")
        return None


def qr_png(text: str) -> bytes:
    image = qrcode.make(text, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def tokens_to_hand_out(
    session: Session, invitations: Iterable[Invitation], sealed: dict[int, str] | None
) -> dict[int, str]:
    """The tokens a background job prints or sends for these invitations.

    ``sealed`` is what the job carries (:func:`unseal_tokens`). A token that no longer
    opens its invitation (re-issued since) is left out: a dead link helps no one. A job
    queued before tokens were hashed carries none (``sealed`` is None): invitations
    not opened yet get a new token, the others are left out.
    """
    if sealed is None:
        return reissue(session, [i for i in invitations if i.status == "pending"])
    return {
        inv.id or 0: token
        for inv in invitations
        if (token := sealed.get(inv.id or 0)) is not None
        and hmac.compare_digest(token_hash(token), inv.token_hash)
    }
