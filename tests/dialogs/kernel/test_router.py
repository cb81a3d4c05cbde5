"""Routing: candidates skip the roles query, yet grants and revocations take effect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, insert

from dialogs.kernel import router
from storage.models import Staff
from tests.harness import Chat


@pytest.fixture(autouse=True)
def fresh_index() -> Iterator[None]:
    router.STAFF_INDEX.invalidate()
    ttl = router.STAFF_INDEX.ttl_s
    yield
    router.STAFF_INDEX.ttl_s = ttl
    router.STAFF_INDEX.invalidate()


def invite_works(chat: Chat, user: str) -> bool:
    replies = chat.send(user, "/invite sales Bob", lang="en")
    return any("Invitation for Bob" in r.text for r in replies)


def test_a_role_granted_here_counts_at_once(chat: Chat) -> None:
    chat.create_job()
    assert not invite_works(chat, "newbie")  # the staff index is now loaded without newbie
    chat.send("admin", "/grant console:newbie hr_manager sales", lang="en")
    assert invite_works(chat, "newbie")


def test_a_revoked_role_stops_at_once_even_with_a_stale_index(chat: Chat) -> None:
    chat.create_job()
    chat.send("admin", "/grant console:newbie hr_manager sales", lang="en")
    assert invite_works(chat, "newbie")
    # Removed behind the ORM's back (as another process would): the index still lists
    # newbie, but it only says "maybe staff"; the roles query decides.
    with chat.app.db.transaction() as session:
        session.execute(delete(Staff).where(Staff.user_id == "newbie"))  # type: ignore[arg-type]
    assert not invite_works(chat, "newbie")


def test_a_grant_by_another_process_counts_within_the_ttl(chat: Chat) -> None:
    chat.create_job()
    assert not invite_works(chat, "newbie")
    with chat.app.db.transaction() as session:  # no ORM flush: like another process
        session.execute(
            insert(Staff).values(platform="console", user_id="newbie", role="hr_manager")
        )
    router.STAFF_INDEX.ttl_s = 3600
    assert not invite_works(chat, "newbie")  # not yet: the index is fresh
    router.STAFF_INDEX.ttl_s = 0
    assert invite_works(chat, "newbie")  # the index was reloaded


def test_candidates_answer_without_a_roles_query(chat: Chat) -> None:
    from sqlalchemy import event

    chat.create_job()
    token, code = chat.invite("Alex Chen")
    chat.start_interview("alex", "Alex Chen", token, code)
    router.STAFF_INDEX.ttl_s = 3600  # loaded by now; a slow machine must not expire it
    statements: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(chat.app.db.engine, "before_cursor_execute", record)
    try:
        chat.app.engine.handle(chat.event("alex", "My first answer."))
    finally:
        event.remove(chat.app.db.engine, "before_cursor_execute", record)
    assert not [s for s in statements if "FROM staff" in s]
    assert not [s for s in statements if "FROM channelidentity" in s]
