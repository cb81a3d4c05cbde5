"""Who is asking: the console's session cookie, CSRF tokens and the per-job check.

The cookie holds a random secret (``HttpOnly``, ``SameSite=Strict``, ``Secure`` on an
https public URL, path ``/console``); the database holds only its hash
(:mod:`dialogs.console.links`). Every form carries the session's CSRF token, compared in
constant time. Roles are asked of :func:`dialogs.kernel.roles.authorize` on every
request, for the job the page or action touches, exactly as chat commands do.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlmodel import Session
from starlette.responses import Response

from core.settings import Settings
from dialogs.console.links import ConsoleSession
from dialogs.kernel.catalog import t
from dialogs.kernel.roles import Verdict, authorize, job_codes
from storage.models import AuditEvent, Job

COOKIE = "console_session"
PRE_COOKIE = "console_pre"  # double-submit token of the sign-in form (no session yet)
COOKIE_PATH = "/console"


@dataclass(frozen=True)
class Denied:
    """A refused request: the HTTP status and the message in the person's language."""

    status: int
    text: str


def set_cookie(
    response: Response, name: str, value: str, *, secure: bool, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, secure=secure, httponly=True, samesite="strict")


def csrf_ok(cs: ConsoleSession, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), cs.csrf.encode())


def refusal(session: Session, lang: str, verdict: Verdict) -> str:
    """The refusal for one reason, like chat's (``access.role_*`` names the roles)."""
    reason = verdict.reason or "no_role"
    if reason == "no_role":
        return t(lang, "console_web.forbidden_no_role")
    if reason in ("other_job", "global_needed"):
        jobs = ", ".join(job_codes(session, verdict.job_ids)) or "-"
        return t(lang, "console_web.forbidden_other_job", jobs=jobs)
    return t(
        lang,
        "console_web.forbidden_too_low",
        role=t(lang, f"access.role_{verdict.role}") if verdict.role else "-",
        needed=t(lang, f"access.role_{verdict.needed}"),
    )


def check_job(
    session: Session,
    settings: Settings,
    cs: ConsoleSession,
    action: str,
    job: Job | None,
    now: dt.datetime,
    subject: str,
    *,
    log: bool = True,
) -> Denied | None:
    """None when ``cs`` may do ``action`` on ``job``; else why not (audited).

    ``log=False``: the page only asks whether to offer an action (nothing audited).
    A job that does not exist is checked like one the person has no role for, unless a
    global role would allow it (then 404): staff of one job cannot probe for others.
    """
    verdict = authorize(
        session,
        settings,
        platform=cs.platform,
        user_id=cs.user_id,
        action=action,
        scope="job",
        job_id=job.id if job is not None else None,
    )
    if verdict.allowed and job is not None:
        return None
    if verdict.allowed:
        return Denied(404, t(cs.lang, "console_web.not_found"))
    if not log:  # a question the page asks (show the form?), not an attempt
        return Denied(403, refusal(session, cs.lang, verdict))
    session.add(
        AuditEvent(
            at=now,
            actor=cs.actor,
            action="access_denied",
            subject=subject,
            details={"reason": verdict.reason or "no_role", "via": "console", "action": action},
        )
    )
    return Denied(403, refusal(session, cs.lang, verdict))


def audit(
    session: Session, cs: ConsoleSession, now: dt.datetime, action: str, subject: str
) -> None:
    session.add(
        AuditEvent(
            at=now, actor=cs.actor, action=action, subject=subject, details={"via": "console"}
        )
    )
