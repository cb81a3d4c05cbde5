"""Roles and the one access check: admin, hr_manager (decides), hr_viewer (sees).

A role is granted globally (config lists, or a staff row without a job) or for one job
(a staff row with ``job_id``). A job-scoped grant counts for that job only: it never
counts for another job, nor for work that touches every job. :func:`authorize` is the
single place that decides; chat commands and buttons reach it through
``dialogs/kernel/access.py`` (declared scopes), and web pages call it directly.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.kernel.events import Event
from storage.db import table_of
from storage.models import GroupBinding, Job, Staff

_STAFF = table_of(Staff)
# Asked on every staff event: prebuilt, so no statement is built per call.
_GRANTS = core_select(_STAFF.c.role, _STAFF.c.job_id).where(
    _STAFF.c.platform == bindparam("platform"), _STAFF.c.user_id == bindparam("user_id")
)

ROLES = ("admin", "hr_manager", "hr_viewer")
# Buttons a group owner/administrator may press when the operator allows it
# (``[telegram] group_admins_decide``): the HR decision buttons of dialogs/hiring/decisions.py.
GROUP_ADMIN_BUTTONS = ("dec:",)
_RANK = {"hr_viewer": 1, "hr_manager": 2, "admin": 3}

# What each action needs.
REQUIRED = {
    "view": "hr_viewer",
    "decide": "hr_manager",
    "score": "hr_manager",
    "ask": "hr_manager",
    "note": "hr_manager",  # write a note on a candidate (the console)
    "contract_file": "hr_manager",  # a signed contract's PDF (ID number, address)
    "invite": "hr_manager",
    "manage_jobs": "admin",
    "manage_questions": "hr_manager",
    "bind": "admin",
    "configure_group": "hr_manager",  # /notify: how much a bound HR group hears
    "grant": "admin",
    "retry_jobs": "admin",
}

# What an action acts on: every job at once ("global"), one job ("job", a candidate's
# job included), or whatever jobs the user may see ("any": listings filter by job).
Scope = Literal["any", "global", "job"]
# Why a request was refused; each has its own message (``access.<reason>``).
Reason = Literal["no_role", "other_job", "global_needed", "too_low"]


@dataclass(frozen=True)
class Grant:
    role: str
    job_id: int | None  # None: every job


@dataclass(frozen=True)
class Verdict:
    """The answer of :func:`authorize`: allowed, or refused with one reason."""

    allowed: bool
    role: str | None  # the role that counted for this request
    needed: str
    reason: Reason | None = None
    scope: Scope = "job"
    job_ids: tuple[int, ...] = ()  # the jobs the user does hold a role for (for the message)


def rank(role: str | None) -> int:
    return _RANK.get(role or "", 0)


def grants_of(session: Session, settings: Settings, platform: str, user_id: str) -> list[Grant]:
    """Every role the user holds: config lists (global) and staff rows (global or per job)."""
    who = f"{platform}:{user_id}"
    found: list[Grant] = []
    if who in settings.roles.admins:
        found.append(Grant("admin", None))
    if who in settings.roles.hr_managers:
        found.append(Grant("hr_manager", None))
    if who in settings.roles.hr_viewers:
        found.append(Grant("hr_viewer", None))
    rows = session.execute(_GRANTS, {"platform": platform, "user_id": user_id}).all()
    found.extend(Grant(str(role), job_id) for role, job_id in rows if role in _RANK)
    return found


def _best(grants: list[Grant]) -> str | None:
    return max((g.role for g in grants), key=rank, default=None)


def highest_role(session: Session, settings: Settings, platform: str, user_id: str) -> str | None:
    """The highest role held anywhere (global or for any job): "is this person staff?"."""
    return _best(grants_of(session, settings, platform, user_id))


def role_of(
    session: Session, settings: Settings, platform: str, user_id: str, job_id: int | None = None
) -> str | None:
    """The role that counts for one job (global grants and that job's), or, with no job,
    the global role only: a grant for one job never counts for another."""
    grants = grants_of(session, settings, platform, user_id)
    return _best([g for g in grants if g.job_id is None or (job_id and g.job_id == job_id)])


def allowed(role: str | None, action: str) -> bool:
    """True if ``role`` may do ``action``."""
    if role is None:
        return False
    return rank(role) >= rank(REQUIRED[action])


def authorize(
    session: Session,
    settings: Settings,
    *,
    platform: str,
    user_id: str,
    action: str,
    scope: Scope,
    job_id: int | None = None,
    group_admin_of_job: bool = False,
) -> Verdict:
    """May this user do ``action`` with this scope (on ``job_id``)? The one check.

    Args:
        scope: "global" counts global grants only; "job" counts global grants and those
            for ``job_id`` (None: the target was not found, so global grants only);
            "any" counts every grant (the handler then shows only permitted jobs).
        group_admin_of_job: the sender administers a group chat bound to ``job_id`` and
            the operator lets such admins decide: counts as hr_manager for that job.
    """
    needed = REQUIRED[action]
    grants = grants_of(session, settings, platform, user_id)
    if scope == "any":
        counted = grants
    elif scope == "global":
        counted = [g for g in grants if g.job_id is None]
    else:
        counted = [g for g in grants if g.job_id is None or (job_id and g.job_id == job_id)]
    role = _best(counted)
    if group_admin_of_job and rank(role) < rank("hr_manager"):
        role = "hr_manager"
    if rank(role) >= rank(needed):
        return Verdict(True, role, needed, scope=scope)
    job_ids = tuple(sorted({g.job_id for g in grants if g.job_id is not None}))
    reason: Reason
    if not grants:
        reason = "no_role"
    elif scope == "global" and (not counted or any(rank(g.role) >= rank(needed) for g in grants)):
        reason = "global_needed"  # their roles are for some jobs only
    elif scope == "job" and not counted and not group_admin_of_job:
        reason = "other_job"
    else:
        reason = "too_low"
    return Verdict(False, role, needed, reason, scope, job_ids)


def permitted_job_ids(
    session: Session, settings: Settings, platform: str, user_id: str, action: str
) -> set[int] | None:
    """The jobs on which the user may do ``action``: None means every job."""
    needed = rank(REQUIRED[action])
    grants = grants_of(session, settings, platform, user_id)
    if any(g.job_id is None and rank(g.role) >= needed for g in grants):
        return None
    return {g.job_id for g in grants if g.job_id is not None and rank(g.role) >= needed}


def job_codes(session: Session, job_ids: tuple[int, ...] | set[int]) -> list[str]:
    if not job_ids:
        return []
    rows = session.exec(select(Job.code).where(col(Job.id).in_(sorted(job_ids)))).all()
    return sorted(rows)


def group_admin_for(session: Session, event: Event, job_id: int) -> bool:
    """True if the sender administers a group chat that is bound to ``job_id``."""
    if not (event.group_admin and event.is_group):
        return False
    bound = session.exec(
        select(GroupBinding.id).where(
            GroupBinding.platform == event.platform,
            GroupBinding.chat_id == event.chat_id,
            GroupBinding.job_id == job_id,
        )
    ).first()
    return bound is not None


PLATFORMS = ("telegram", "wechat", "wecom", "console")
_USER_ID = re.compile(r"[A-Za-z0-9_@.\-]{1,64}")


def parse_principal(raw: str) -> tuple[str, str] | None:
    """``platform:user`` with a known platform and a plausible user id, else None."""
    platform, sep, user_id = raw.partition(":")
    if not sep or platform.lower() not in PLATFORMS or not _USER_ID.fullmatch(user_id):
        return None
    return platform.lower(), user_id


def set_grant(
    session: Session, platform: str, user_id: str, role: str, job_id: int | None, now: dt.datetime
) -> Staff:
    """Give ``role`` globally (``job_id`` None) or for one job; replaces the role held there."""
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}")
    row = grant_row(session, platform, user_id, job_id)
    if row is None:
        row = Staff(platform=platform, user_id=user_id, role=role, job_id=job_id, created_at=now)
    row.role = role
    session.add(row)
    return row


def grant_row(session: Session, platform: str, user_id: str, job_id: int | None) -> Staff | None:
    """The staff row granting a role globally (``job_id`` None) or for one job."""
    job = col(Staff.job_id).is_(None) if job_id is None else Staff.job_id == job_id
    return session.exec(
        select(Staff).where(Staff.platform == platform, Staff.user_id == user_id, job)
    ).first()


def in_config(settings: Settings, who: str) -> bool:
    """True if ``platform:user`` holds a role from the configuration file."""
    roles = settings.roles
    return who in roles.admins or who in roles.hr_managers or who in roles.hr_viewers


DECIDING_ROLES = ("hr_manager", "admin")


def deciders_of_chat(session: Session, platform: str, chat_id: str) -> set[str]:
    """User ids (on ``platform``) holding a deciding role, globally or for a job bound to
    the group ``chat_id`` (a WeCom robot chat has no members to ask)."""
    job_ids = session.exec(
        select(GroupBinding.job_id).where(
            GroupBinding.platform == platform, GroupBinding.chat_id == chat_id
        )
    ).all()
    rows = session.exec(
        select(Staff.user_id).where(
            Staff.platform == platform,
            col(Staff.role).in_(DECIDING_ROLES),
            col(Staff.job_id).is_(None) | col(Staff.job_id).in_(list(job_ids)),
        )
    ).all()
    return set(rows)
