"""``roles`` sub-commands for operators: list, grant and revoke staff roles.

The operator's shell has every power the database has, so no role check applies here;
the same validation as the chat's ``/grant`` and ``/revoke`` does, and each change is
audited with the actor ``cli``.
"""

from __future__ import annotations

import argparse
import sys

from sqlmodel import col, select

from core.clock import SystemClock
from core.settings import Settings, load_settings
from dialogs.roles import ROLES, grant_row, in_config, parse_principal, set_grant
from storage.db import open_database
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


def _grant(args: argparse.Namespace) -> int:
    who = _who(args.who)
    if who is None:
        return 2
    settings = load_settings(args.config)
    found, job_id = _job_id(settings, args.job)
    if not found:
        return 1
    db = open_database(settings)
    now = SystemClock().now()
    with db.transaction() as session:
        set_grant(session, who[0], who[1], args.role, job_id, now)
        session.add(
            AuditEvent(
                at=now,
                actor="cli",
                action="role_granted",
                subject=f"staff:{who[0]}:{who[1]}",
                details={"role": args.role, "job_id": job_id},
            )
        )
    print(f"{who[0]}:{who[1]} is now {args.role} ({args.job or 'all jobs'})")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    who = _who(args.who)
    if who is None:
        return 2
    settings = load_settings(args.config)
    found, job_id = _job_id(settings, args.job)
    if not found:
        return 1
    db = open_database(settings)
    now = SystemClock().now()
    with db.transaction() as session:
        row = grant_row(session, who[0], who[1], job_id)
        if row is None:
            where = "config.toml [roles]" if in_config(settings, args.who) else "no granted role"
            return _fail(f"{who[0]}:{who[1]}: {where} ({args.job or 'all jobs'}); nothing changed")
        session.delete(row)
        session.add(
            AuditEvent(
                at=now,
                actor="cli",
                action="role_revoked",
                subject=f"staff:{who[0]}:{who[1]}",
                details={"role": row.role, "job_id": job_id},
            )
        )
    print(f"{who[0]}:{who[1]} no longer has {row.role} ({args.job or 'all jobs'})")
    return 0
