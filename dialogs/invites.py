"""Invitations: unguessable expiring tokens, identity codes, links and QR codes."""

from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass

import qrcode
from sqlmodel import Session

from core.settings import Settings
from storage.crypto import new_token
from storage.models import Candidate, Invitation, Job


@dataclass
class NewInvitation:
    candidate: Candidate
    invitation: Invitation
    code: str


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
    from storage.types import current_keyring

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
    invitation = Invitation(
        token=new_token(),
        candidate_id=candidate.id or 0,
        job_id=job.id or 0,
        code=code,
        expires_at=now + dt.timedelta(days=settings.interview.invitation_days),
        created_at=now,
    )
    session.add(invitation)
    session.flush()
    return NewInvitation(candidate=candidate, invitation=invitation, code=code)


def invitation_link(settings: Settings, token: str, platform: str = "telegram") -> str:
    """Where a candidate starts: a Telegram deep link (console: the /start command)."""
    if platform == "console":
        return f"/start {token}"
    return f"https://t.me/{settings.app.bot_username}?start={token}"


def qr_png(text: str) -> bytes:
    image = qrcode.make(text, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
