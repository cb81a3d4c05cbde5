"""Roles, checked in one place: admin, hr_manager (decides), hr_viewer (sees)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.events import Event
from storage.db import table_of
from storage.models import GroupBinding, Staff

_STAFF = table_of(Staff)
# Asked on every event: prebuilt, so no statement is built per call.
_ROLES = core_select(_STAFF.c.role).where(
    _STAFF.c.platform == bindparam("platform"), _STAFF.c.user_id == bindparam("user_id")
)

ROLES = ("admin", "hr_manager", "hr_viewer")
# Buttons a group owner/administrator may press when the operator allows it
# (``[telegram] group_admins_decide``): the HR decision buttons of dialogs/hr.py.
GROUP_ADMIN_BUTTONS = ("dec:",)
_RANK = {"hr_viewer": 1, "hr_manager": 2, "admin": 3}

# What each action needs.
REQUIRED = {
    "view": "hr_viewer",
    "decide": "hr_manager",
    "score": "hr_manager",
    "ask": "hr_manager",
    "invite": "hr_manager",
    "manage_jobs": "admin",
    "manage_questions": "hr_manager",
    "bind": "admin",
    "grant": "admin",
    "retry_jobs": "admin",
}


def role_of(
    session: Session, settings: Settings, platform: str, user_id: str, job_id: int | None = None
) -> str | None:
    """The highest role of a user, from config lists and the staff table."""
    who = f"{platform}:{user_id}"
    found: list[str] = []
    if who in settings.roles.admins:
        found.append("admin")
    if who in settings.roles.hr_managers:
        found.append("hr_manager")
    if who in settings.roles.hr_viewers:
        found.append("hr_viewer")
    rows: Sequence[str]
    if job_id is None:
        params = {"platform": platform, "user_id": user_id}
        rows = session.execute(_ROLES, params).scalars().all()
    else:
        query = select(Staff.role).where(Staff.platform == platform, Staff.user_id == user_id)
        rows = session.exec(
            query.where((col(Staff.job_id).is_(None)) | (Staff.job_id == job_id))
        ).all()
    found.extend(rows)
    if not found:
        return None
    return max(found, key=lambda r: _RANK.get(r, 0))


def allowed(role: str | None, action: str) -> bool:
    """True if ``role`` may do ``action``."""
    if role is None:
        return False
    return _RANK.get(role, 0) >= _RANK[REQUIRED[action]]


def role_for_job(session: Session, settings: Settings, event: Event, job_id: int) -> str | None:
    """The user's role for one job: staff roles, plus hr_manager for an admin of a bound group.

    The group-admin grant holds only in a group chat bound to that job, and only when the
    adapter vouched for it (``Event.group_admin``, set when ``group_admins_decide`` is on).
    """
    role = role_of(session, settings, event.platform, event.user_id, job_id)
    if group_admin_for(session, event, job_id) and _RANK.get(role or "", 0) < _RANK["hr_manager"]:
        return "hr_manager"
    return role


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
