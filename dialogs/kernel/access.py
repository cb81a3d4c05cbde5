"""Declared scopes for staff commands and buttons, checked before any handler runs.

Every command and button entry says what it acts on: nothing in particular ("any": the
handler shows only what the user may see), every job ("global"), one job ("job", named
by code or implied by the group chat's binding) or one candidate ("candidate": checked
against the role for *that candidate's* job). The kernel resolves the target with the
entry's resolver, asks :func:`dialogs.kernel.roles.authorize` and either refuses — one message
per reason — or runs the handler with ``ctx.target`` filled in. Handlers act on
``ctx.target`` only; they never look roles up nor resolve their target again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import Session, select

from dialogs.kernel.context import Ctx, Target
from dialogs.kernel.roles import Verdict, authorize, group_admin_for, job_codes
from storage.models import Candidate, GroupBinding, Job

# The largest id any database here stores (64-bit signed); longer digit strings are not ids.
MAX_ID = 2**63 - 1
# "job_or_global": a job when one is named, else every job (``/grant who role [JOB]``).
EntryScope = Literal["any", "global", "job", "candidate", "job_or_global", "self"]


# A resolver reads the command's arguments (or the button's data) and finds the target.
Resolver = Callable[[Ctx, str], Target]


def parse_id(raw: str) -> int | None:
    """A positive ASCII id (``12`` or ``#12``) that fits the database, else None."""
    text = raw.strip().removeprefix("#")
    if not text or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def job_by_code(session: Session, code: str) -> Job | None:
    code = code.strip()
    # No job code holds a control character (PostgreSQL refuses NUL in any string).
    if not code or len(code) > 64 or not code.isprintable():
        return None
    return session.exec(select(Job).where(Job.code == code)).first()


def bound_job(ctx: Ctx) -> Job | None:
    """The one job this group chat is bound to (None in private chats or with several)."""
    if not ctx.event.is_group:
        return None
    rows = ctx.session.exec(
        select(GroupBinding.job_id).where(
            GroupBinding.platform == ctx.event.platform, GroupBinding.chat_id == ctx.event.chat_id
        )
    ).all()
    return ctx.session.get(Job, rows[0]) if len(rows) == 1 else None


def job_arg(index: int = 0, *, bound: bool = False) -> Resolver:
    """The job whose code is word ``index`` of the arguments; with ``bound``, the group's
    job when the word is missing."""

    def resolve(ctx: Ctx, args: str) -> Target:
        words = args.split()
        if len(words) > index:
            code = words[index]
            return Target(job=job_by_code(ctx.session, code), raw=code)
        if bound:
            job = bound_job(ctx)
            return Target(job=job, raw=job.code if job else "")
        return Target()

    return resolve


def candidate_arg(index: int = 0) -> Resolver:
    """The candidate whose id is word ``index`` of the arguments (``12`` or ``#12``)."""

    def resolve(ctx: Ctx, args: str) -> Target:
        words = args.split()
        if len(words) <= index:
            return Target()
        return _candidate(ctx, words[index])

    return resolve


def candidate_in_button(ctx: Ctx, data: str) -> Target:
    """The candidate of button data ``prefix:<candidate id>:…``."""
    parts = data.split(":")
    return _candidate(ctx, parts[1] if len(parts) > 1 else "")


def _candidate(ctx: Ctx, raw: str) -> Target:
    raw = raw.strip()[:40] or "?"
    cid = parse_id(raw)
    candidate = ctx.session.get(Candidate, cid) if cid is not None else None
    return Target(candidate=candidate, raw=raw)


@dataclass(frozen=True)
class Access:
    """What a command or button needs: an action (hence a least role) and a scope."""

    action: str
    scope: EntryScope
    resolver: Resolver | None = None
    group_admins: bool = False  # bound-group admins count as HR managers (decision buttons)


def check(ctx: Ctx, access: Access, args: str, *, button: bool = False) -> bool:
    """Resolve the target, check the role for it, refuse with the reason; True: go on.

    A target that was named but does not exist is checked like a job the user has no
    role for unless they hold a global role that would allow it: so staff of one job
    cannot tell which candidates or jobs exist elsewhere.
    """
    if access.scope == "self":
        return True
    target = access.resolver(ctx, args) if access.resolver else Target()
    ctx.target = target
    action = target.action or access.action
    event = ctx.event
    scope: Literal["any", "global", "job"]
    if access.scope == "any" or access.scope == "global":
        scope = access.scope
    elif access.scope == "job_or_global":
        scope = "job" if target.named else "global"
    elif target.job_id is None and not target.named:
        scope = "any"  # nothing named: the handler answers with its usage text
    else:
        scope = "job"
    job_id = target.job_id if scope == "job" else None
    verdict = authorize(
        ctx.session,
        ctx.settings,
        platform=event.platform,
        user_id=event.user_id,
        action=action,
        scope=scope,
        job_id=job_id,
        group_admin_of_job=bool(
            access.group_admins and job_id and group_admin_for(ctx.session, event, job_id)
        ),
    )
    ctx.role = verdict.role
    if verdict.allowed:
        return True
    refuse(ctx, verdict, button=button, subject=_subject(target))
    return False


def _subject(target: Target) -> str:
    if target.candidate is not None:
        return f"candidate:{target.candidate.id}"
    if target.job is not None:
        return f"job:{target.job.id}"
    return target.raw[:40]


def refusal_text(ctx: Ctx, verdict: Verdict) -> str:
    """The refusal for one reason, in the user's language."""
    reason = verdict.reason or "no_role"
    if reason == "no_role":
        return ctx.text("common.no_access")
    needed = ctx.text(f"access.role_{verdict.needed}")
    jobs = ", ".join(job_codes(ctx.session, verdict.job_ids)) or "-"
    if reason == "other_job":
        return ctx.text("access.other_job", jobs=jobs)
    if reason == "global_needed":
        return ctx.text("access.global_needed", needed=needed, jobs=jobs)
    have = ctx.text(f"access.role_{verdict.role}") if verdict.role else "-"
    key = "access.too_low" if verdict.scope == "job" else "access.too_low_global"
    return ctx.text(key, needed=needed, role=have)


def refuse(ctx: Ctx, verdict: Verdict, *, button: bool, subject: str = "") -> None:
    text = refusal_text(ctx, verdict)
    if button:
        ctx.answer_button(text, alert=True)
    else:
        ctx.say(text)
    ctx.audit("access_denied", subject, reason=verdict.reason or "no_role", chat=ctx.event.chat_id)


def target_job(ctx: Ctx, usage: str, **values: Any) -> Job | None:
    """The checked job of this command, or None after saying what was wrong."""
    job = ctx.target.job
    if job is None:
        if ctx.target.named:
            ctx.reply("staff.job_unknown", code=ctx.target.raw[:40])
        else:
            ctx.reply(usage, **values)
    return job
