"""``roles`` sub-commands for operators: list, grant and revoke staff roles.

The operator's shell has every power the database has, so no role check applies here;
the same validation as the chat's ``/grant`` and ``/revoke`` does, and each change is
audited with the actor ``cli``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core.clock import SystemClock
from core.settings import Settings, load_settings
from dialogs.kernel.roles import ROLES, grant_row, in_config, parse_principal, set_grant
from storage.db import Database, open_database
from storage.models import AuditEvent, Job, Staff


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    roles = sub.add_parser("roles", help="staff roles: list, grant, revoke")
    rsub = roles.add_subparsers(dest="roles_command", required=True)
    rsub.add_parser("list", help="every role, from config.toml and granted").set_defaults(
        func=_list
    )
    grant = rsub.add_parser("grant", help="give PLATFORM:USER a role (for every job or one)")
    grant.add_argument("who", help="platform:user, e.g. telegram:12345")
    grant.add_argument("role", choices=ROLES)
    grant.add_argument("--job", help="job code: the role holds for this job only")
    grant.set_defaults(func=_grant)
    revoke = rsub.add_parser("revoke", help="take back the role PLATFORM:USER holds")
    revoke.add_argument("who", help="platform:user")
    revoke.add_argument("--job", help="job code: the role held for this job")
    revoke.set_defaults(func=_revoke)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _who(raw: str) -> tuple[str, str] | None:
    who = parse_principal(raw)
    if who is None:
        print(
            f"not a platform:user: {raw[:80]!r} (platforms: telegram, wechat, wecom, console)",
            file=sys.stderr,
        )
    return who


def _job_id(settings: Settings, code: str | None) -> tuple[bool, int | None]:
    """(found, id): a missing --job means every job."""
    if code is None:
        return True, None
    db = open_database(settings)
    with db.session() as session:
        job_id = session.exec(select(Job.id).where(Job.code == code)).first()
    if job_id is None:
        print(f"no job with the code {code[:40]!r}", file=sys.stderr)
        return False, None
    return True, job_id


def _list(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    for label, users in (
        ("admin", settings.roles.admins),
        ("hr_manager", settings.roles.hr_managers),
        ("hr_viewer", settings.roles.hr_viewers),
    ):
        for who in users:
            print(f"{who} {label} all-jobs config.toml")
    db = open_database(settings)
    with db.session() as session:
        codes = dict(session.exec(select(Job.id, Job.code)).all())
        rows = session.exec(select(Staff).order_by(col(Staff.platform), col(Staff.user_id))).all()
        for row in rows:
            scope = codes.get(row.job_id, "?") if row.job_id is not None else "all-jobs"
            print(f"{row.platform}:{row.user_id} {row.role} {scope} granted")
    return 0


@dataclass(frozen=True)
class _Change:
    """A checked ``roles grant|revoke`` request: who, for which job, in which database."""

    platform: str
    user_id: str
    job_id: int | None
    settings: Settings
    db: Database

    @property
    def who(self) -> str:
        return f"{self.platform}:{self.user_id}"

    def audit(self, session: Session, action: str, role: str, now: dt.datetime) -> None:
        session.add(
            AuditEvent(
                at=now,
                actor="cli",
                action=action,
                subject=f"staff:{self.who}",
                details={"role": role, "job_id": self.job_id},
            )
        )


def _change(args: argparse.Namespace) -> _Change | int:
    """The request, or the exit code after saying what is wrong with it."""
    who = _who(args.who)
    if who is None:
        return 2
    settings = load_settings(args.config)
    found, job_id = _job_id(settings, args.job)
    if not found:
        return 1
    return _Change(who[0], who[1], job_id, settings, open_database(settings))


def _grant(args: argparse.Namespace) -> int:
    change = _change(args)
    if isinstance(change, int):
        return change
    now = SystemClock().now()
    with change.db.transaction() as session:
        set_grant(session, change.platform, change.user_id, args.role, change.job_id, now)
        change.audit(session, "role_granted", args.role, now)
    print(f"{change.who} is now {args.role} ({args.job or 'all jobs'})")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    change = _change(args)
    if isinstance(change, int):
        return change
    now = SystemClock().now()
    with change.db.transaction() as session:
        row = grant_row(session, change.platform, change.user_id, change.job_id)
        if row is None:
            config = in_config(change.settings, change.who)
            where = "config.toml [roles]" if config else "no granted role"
            return _fail(f"{change.who}: {where} ({args.job or 'all jobs'}); nothing changed")
        session.delete(row)
        change.audit(session, "role_revoked", row.role, now)
    print(f"{change.who} no longer has {row.role} ({args.job or 'all jobs'})")
    return 0
