"""Roles for one job, including the group-admin grant (``group_admins_decide``)."""

from __future__ import annotations

from sqlmodel import select

from dialogs.events import ButtonPressed
from dialogs.roles import role_for_job
from storage.models import Job
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


def test_an_admin_of_the_bound_group_decides_for_that_job_only(chat: Chat) -> None:
    setup_job(chat)  # job "sales" bound to the HR group
    with chat.app.db.session() as session:
        job_id = session.exec(select(Job.id).where(Job.code == "sales")).one()
        assert job_id is not None
        settings = chat.app.settings
        assert role_for_job(session, settings, press(GROUP), job_id) == "hr_manager"
        # Not vouched for by the platform, another group, a private chat, another job: nothing.
        assert role_for_job(session, settings, press(GROUP, admin=False), job_id) is None
        assert role_for_job(session, settings, press("other-group"), job_id) is None
        assert role_for_job(session, settings, press("lead", group=False), job_id) is None
        assert role_for_job(session, settings, press(GROUP), job_id + 1) is None


def test_the_grant_never_lowers_a_staff_role(chat: Chat) -> None:
    setup_job(chat)
    with chat.app.db.session() as session:
        job_id = session.exec(select(Job.id).where(Job.code == "sales")).one()
        assert job_id is not None
        assert role_for_job(session, chat.app.settings, press(GROUP, user="admin"), job_id) == (
            "admin"
        )
        assert role_for_job(
            session, chat.app.settings, press(GROUP, user="viewer", admin=False), job_id
        ) == ("hr_viewer")
