"""Roles, checked in one place: admin, hr_manager (decides), hr_viewer (sees)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.settings import Settings
from storage.models import Staff

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
    query = select(Staff.role).where(Staff.platform == platform, Staff.user_id == user_id)
    if job_id is None:
        rows = session.exec(query).all()
    else:
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
