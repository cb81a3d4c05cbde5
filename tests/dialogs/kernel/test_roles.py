"""The one access check: roles per job, the reasons for a refusal, the group-admin grant."""

from __future__ import annotations

from sqlmodel import Session, select

from core.settings import Settings
from dialogs.kernel.events import ButtonPressed
from dialogs.kernel.roles import (
    Scope,
    Verdict,
    authorize,
    group_admin_for,
    highest_role,
    permitted_job_ids,
    role_of,
)
from storage.models import Job, Staff
from tests.dialogs.hr_helpers import GROUP, setup_job
from tests.harness import Chat


def press(
    chat_id: str, *, user: str = "lead", group: bool = True, admin: bool = True
) -> ButtonPressed:
    return ButtonPressed(
        event_id=f"e-{chat_id}-{user}-{group}-{admin}",
        platform="console",
        chat_id=chat_id,
        user_id=user,
        is_group=group,
        group_admin=admin,
        data="dec:1:a",
    )


def two_jobs(chat: Chat) -> tuple[int, int]:
    """Job "sales" (bound to the HR group) and job "ops"; Kim is an hr_manager of sales only."""
    setup_job(chat)
    chat.create_job("ops")
    with chat.app.db.transaction() as session:
        sales = session.exec(select(Job.id).where(Job.code == "sales")).one()
        ops = session.exec(select(Job.id).where(Job.code == "ops")).one()
        assert sales is not None and ops is not None
        session.add(Staff(platform="console", user_id="kim", role="hr_manager", job_id=sales))
        session.add(Staff(platform="console", user_id="jo", role="admin", job_id=sales))
    return sales, ops


def check(
    session: Session,
    settings: Settings,
    user: str,
    action: str,
    scope: Scope,
    job_id: int | None = None,
) -> Verdict:
    return authorize(
        session,
        settings,
        platform="console",
        user_id=user,
        action=action,
        scope=scope,
        job_id=job_id,
    )


def test_a_role_for_one_job_counts_for_that_job_only(chat: Chat) -> None:
    sales, ops = two_jobs(chat)
    settings = chat.app.settings
    with chat.app.db.session() as session:
        assert check(session, settings, "kim", "decide", "job", sales).allowed
        assert check(session, settings, "kim", "view", "job", sales).role == "hr_manager"
        other = check(session, settings, "kim", "view", "job", ops)
        assert not other.allowed and other.reason == "other_job" and other.job_ids == (sales,)
        # a job that was named but not found counts global roles only
        assert check(session, settings, "kim", "view", "job", None).reason == "other_job"
        # nor does it count for work on every job
        assert role_of(session, settings, "console", "kim") is None
        assert role_of(session, settings, "console", "kim", sales) == "hr_manager"
        assert role_of(session, settings, "console", "kim", ops) is None
        assert highest_role(session, settings, "console", "kim") == "hr_manager"


def test_each_refusal_has_its_reason(chat: Chat) -> None:
    sales, ops = two_jobs(chat)
    settings = chat.app.settings
    with chat.app.db.session() as session:
        assert check(session, settings, "nobody", "view", "job", sales).reason == "no_role"
        assert check(session, settings, "nobody", "view", "any").reason == "no_role"
        # an admin of one job asking for something that touches every job
        verdict = check(session, settings, "jo", "manage_jobs", "global")
        assert verdict.reason == "global_needed" and verdict.needed == "admin"
        # a viewer (global, from config) asking to decide: too low for this job
        low = check(session, settings, "viewer", "decide", "job", ops)
        assert low.reason == "too_low" and low.role == "hr_viewer"
        # a global admin may do everything everywhere
        for action in ("view", "decide", "bind", "grant", "manage_jobs"):
            assert check(session, settings, "admin", action, "global").allowed
            assert check(session, settings, "admin", action, "job", ops).allowed


def test_the_jobs_a_user_may_act_on(chat: Chat) -> None:
    sales, _ops = two_jobs(chat)
    settings = chat.app.settings
    with chat.app.db.session() as session:
        assert permitted_job_ids(session, settings, "console", "kim", "view") == {sales}
        assert permitted_job_ids(session, settings, "console", "kim", "manage_jobs") == set()
        assert permitted_job_ids(session, settings, "console", "viewer", "view") is None
        assert permitted_job_ids(session, settings, "console", "viewer", "decide") == set()
        assert permitted_job_ids(session, settings, "console", "nobody", "view") == set()


def test_an_admin_of_the_bound_group_decides_for_that_job_only(chat: Chat) -> None:
    setup_job(chat)  # job "sales" bound to the HR group
    with chat.app.db.session() as session:
        job_id = session.exec(select(Job.id).where(Job.code == "sales")).one()
        assert job_id is not None
        settings = chat.app.settings

        def verdict(event: ButtonPressed, job: int) -> Verdict:
            return authorize(
                session,
                settings,
                platform="console",
                user_id=event.user_id,
                action="decide",
                scope="job",
                job_id=job,
                group_admin_of_job=group_admin_for(session, event, job),
            )

        assert verdict(press(GROUP), job_id).role == "hr_manager"
        assert verdict(press(GROUP), job_id).allowed
        # Not vouched for by the platform, another group, a private chat, another job: nothing.
        assert not verdict(press(GROUP, admin=False), job_id).allowed
        assert not verdict(press("other-group"), job_id).allowed
        assert not verdict(press("lead", group=False), job_id).allowed
        assert not verdict(press(GROUP), job_id + 1).allowed
        # the grant never lowers a staff role
        assert verdict(press(GROUP, user="admin"), job_id).role == "admin"
        assert verdict(press(GROUP, user="viewer", admin=False), job_id).role == "hr_viewer"
