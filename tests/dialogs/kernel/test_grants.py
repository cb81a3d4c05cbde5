"""Granting and revoking roles: no escalation beyond one's own job, and /revoke works."""

from __future__ import annotations

import pytest
from sqlmodel import select

from dialogs.kernel.catalog import t
from storage.models import GroupBinding, Job, Staff
from tests.harness import Chat

HR_ROOM, OPS_ROOM = "hr-room", "ops-room"


@pytest.fixture
def jobs(chat: Chat) -> Chat:
    """Jobs "sales" and "ops"; Jo administers sales only."""
    chat.create_job()
    chat.create_job("ops")
    chat.send("admin", "/grant console:jo admin sales", lang="en")
    return chat


def roles(chat: Chat) -> set[tuple[str, str, str | None]]:
    with chat.app.db.session() as session:
        codes = dict(session.exec(select(Job.id, Job.code)).all())
        return {
            (s.user_id, s.role, codes.get(s.job_id) if s.job_id else None)
            for s in session.exec(select(Staff)).all()
        }


def test_an_admin_of_one_job_cannot_make_anyone_a_global_admin(jobs: Chat) -> None:
    before = roles(jobs)
    global_admin = jobs.send("jo", "/grant console:mallory admin", lang="en")[-1].text
    assert global_admin == t("en", "access.global_needed", needed="admin", jobs="sales")
    job_admin = jobs.send("jo", "/grant console:mallory admin sales", lang="en")[-1].text
    assert job_admin == t("en", "access.admin_grants")
    global_viewer = jobs.send("jo", "/grant console:mallory hr_viewer", lang="zh")[-1].text
    assert global_viewer == t("zh", "access.global_needed", needed="管理员", jobs="sales")
    other = jobs.send("jo", "/grant console:mallory hr_manager ops", lang="en")[-1].text
    assert other == t("en", "access.other_job", jobs="sales")
    assert roles(jobs) == before
    # what Jo may do: roles below admin for sales
    ok = jobs.send("jo", "/grant console:mallory hr_manager sales", lang="en")[-1].text
    assert ok == "console:mallory is now hr_manager (sales)."
    assert ("mallory", "hr_manager", "sales") in roles(jobs)


def test_an_admin_of_one_job_cannot_bind_a_group_to_another_job(jobs: Chat) -> None:
    refused = jobs.send("jo", "/bind ops", group=OPS_ROOM, lang="en")[-1].text
    assert refused == t("en", "access.other_job", jobs="sales")
    bound = jobs.send("jo", "/bind sales", group=HR_ROOM, lang="en")[-1].text
    assert "receives progress and rankings for sales" in bound
    with jobs.app.db.session() as session:
        rows = session.exec(select(GroupBinding.chat_id)).all()
    assert rows == [HR_ROOM]


def test_an_admin_of_one_job_sets_that_jobs_contract_defaults_only(jobs: Chat) -> None:
    refused = jobs.send("jo", "/contractdefaults ops monthly_wage=9000", lang="en")[-1].text
    assert refused == t("en", "access.other_job", jobs="sales")
    with jobs.app.db.session() as session:
        ops = session.exec(select(Job).where(Job.code == "ops")).one()
        assert ops.contract_defaults == {}
    saved = jobs.send("jo", "/contractdefaults sales monthly_wage=9000", lang="en")[-1].text
    assert "sales" in saved and "Nothing was changed" not in saved


def test_grant_checks_who_and_what(jobs: Chat) -> None:
    usage = t("en", "staff.usage_grant")
    for bad in (
        "/grant :: admin",
        "/grant console: admin",
        "/grant :mallory admin",
        "/grant sms:123 admin",
        "/grant console:mal lory admin",
        "/grant console:mallory superuser",
        "/grant console:" + "x" * 200 + " hr_viewer",
        "/grant console:mallory",
    ):
        before = roles(jobs)
        assert jobs.send("admin", bad, lang="en")[-1].text == usage, bad
        assert roles(jobs) == before, bad
    unknown = jobs.send("admin", "/grant console:mallory hr_viewer nojob", lang="en")[-1].text
    assert unknown == t("en", "staff.job_unknown", code="nojob")


def test_revoke_takes_a_role_back_at_once(jobs: Chat) -> None:
    jobs.send("admin", "/grant console:kim hr_manager sales", lang="en")
    assert "Invitation for Bob" in jobs.send("kim", "/invite sales Bob", lang="en")[0].text
    done = jobs.send("jo", "/revoke console:kim sales", lang="en")[-1].text
    assert done == "console:kim no longer has the role hr_manager (sales)."
    assert ("kim", "hr_manager", "sales") not in roles(jobs)
    refused = jobs.send("kim", "/invite sales Carl", lang="en")[-1].text
    assert refused == t("en", "common.no_access")
    # nothing to revoke; roles from config.toml stay with the operator
    again = jobs.send("jo", "/revoke console:kim sales", lang="zh")[-1].text
    assert again == t("zh", "staff.revoke_none", who="console:kim", scope=" (sales)")
    config = jobs.send("admin", "/revoke console:hr", lang="en")[-1].text
    assert config == t("en", "staff.revoke_config", who="console:hr", scope="")
    assert jobs.send("admin", "/revoke", lang="en")[-1].text == t("en", "staff.usage_revoke")


def test_only_a_global_admin_revokes_admins_or_global_roles(jobs: Chat) -> None:
    jobs.send("admin", "/grant console:ann hr_viewer", lang="en")
    jobs.send("admin", "/grant console:pat admin sales", lang="en")
    before = roles(jobs)
    assert jobs.send("jo", "/revoke console:ann", lang="en")[-1].text == t(
        "en", "access.global_needed", needed="admin", jobs="sales"
    )
    assert jobs.send("jo", "/revoke console:pat sales", lang="en")[-1].text == t(
        "en", "access.admin_grants"
    )
    assert roles(jobs) == before
    assert "no longer" in jobs.send("admin", "/revoke console:pat sales", lang="en")[-1].text
    assert ("pat", "admin", "sales") not in roles(jobs)
