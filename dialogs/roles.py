"""Roles, checked in one place: admin, hr_manager (decides), hr_viewer (sees)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from core.settings import Settings
from storage.db import table_of
from storage.models import Staff

_STAFF = table_of(Staff)
# Asked on every event: prebuilt, so no statement is built per call.
_ROLES = core_select(_STAFF.c.role).where(
    _STAFF.c.platform == bindparam("platform"), _STAFF.c.user_id == bindparam("user_id")
)

ROLES = ("admin", "hr_manager", "hr_viewer")
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
