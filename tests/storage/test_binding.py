"""Encrypted fields are bound to their table, column and row (storage/types.py).

Someone with write access to the database but not the key copies ciphertexts around:
the copy fails authentication where it lands, with a clear error, never someone
else's data.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import StatementError
from sqlmodel import col, select

from app.wiring import App
from core.errors import CryptoError
from storage.models import Candidate, InboxEvent, KeyValue
from tests.harness import Chat

ID_NUMBER = "110101199003071234"


def two_candidates(app: App, chat: Chat) -> tuple[int, int]:
    chat.create_job()
    chat.send("hr", "/invite sales Zhang Wei 13912345678")
    chat.invite("Li Lei")
    with app.db.transaction() as session:
        zhang, li = session.exec(select(Candidate).order_by(col(Candidate.id))).all()
        zhang.id_number = ID_NUMBER
        session.add(zhang)
        assert zhang.id is not None and li.id is not None
        return zhang.id, li.id


def copy(app: App, sql: str, **params: object) -> None:
    """What an attacker with the database (not the key) does: raw SQL."""
    with app.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def name_of(app: App, candidate_id: int) -> str:
    with app.db.session() as session:
        found = session.get(Candidate, candidate_id)
        assert found is not None
        return found.name


def test_an_id_number_copied_into_another_candidates_name_does_not_decrypt(
    app: App, chat: Chat
) -> None:
    zhang, li = two_candidates(app, chat)
    assert name_of(app, li) == "Li Lei"

    copy(
        app,
        "UPDATE candidate SET name = (SELECT id_number FROM candidate WHERE id = :src) "
        "WHERE id = :dst",
        src=zhang,
        dst=li,
    )

    with pytest.raises(CryptoError, match=rf"candidate\.name of row {li}: .*copied from another"):
        name_of(app, li)
    # HR listing the job is told something went wrong; nobody sees Zhang Wei's ID number.
    replies = chat.send("hr", "/progress sales", lang="en")
    assert "Something went wrong" in replies[-1].text
    assert all(ID_NUMBER not in r.text for r in chat.messenger.delivered)
    # ... and the failed event tells the admin which field of which row is wrong.
    with app.db.session() as session:
        failed = session.exec(select(InboxEvent).where(InboxEvent.status == "failed")).one()
    assert (failed.error or "").startswith(f"CryptoError: candidate.name of row {li}: ")


def test_a_name_copied_into_another_row_does_not_decrypt(app: App, chat: Chat) -> None:
    zhang, li = two_candidates(app, chat)

    copy(
        app,
        "UPDATE candidate SET name = (SELECT name FROM candidate WHERE id = :src) WHERE id = :dst",
        src=zhang,
        dst=li,
    )

    assert name_of(app, zhang) == "Zhang Wei"
    with pytest.raises(CryptoError, match=rf"candidate\.name of row {li}"):
        name_of(app, li)


def test_an_event_payload_copied_into_another_event_does_not_decrypt(app: App, chat: Chat) -> None:
    chat.send("stranger", "hello, my phone is 13912345678")
    chat.send("other", "hi")
    with app.db.session() as session:
        first, second = session.exec(select(InboxEvent).order_by(col(InboxEvent.id))).all()
    assert "13912345678" in first.payload

    copy(
        app,
        "UPDATE inboxevent SET payload = (SELECT payload FROM inboxevent WHERE id = :src) "
        "WHERE id = :dst",
        src=first.id,
        dst=second.id,
    )

    with (
        app.db.session() as session,
        pytest.raises(CryptoError, match=r"inboxevent\.payload of row .*copied from another"),
    ):
        session.exec(select(InboxEvent.payload).where(InboxEvent.id == second.id)).one()


def test_stored_fields_are_bound_and_many_rows_cannot_share_one_ciphertext(
    app: App, chat: Chat
) -> None:
    zhang, li = two_candidates(app, chat)
    with app.db.engine.connect() as conn:
        tokens = conn.execute(text("SELECT name FROM candidate ORDER BY id")).scalars().all()
    assert all(t.startswith("e2:") for t in tokens)
    # What the code wrote before binding (e1, no associated data) stays readable.
    legacy = app.db.keyring.encrypt_text("1 Old Street")
    assert legacy.startswith("e1:")
    copy(app, "UPDATE candidate SET address = :v WHERE id = :dst", v=legacy, dst=zhang)
    with app.db.session() as session:
        found = session.get(Candidate, zhang)
        assert found is not None and found.address == "1 Old Street"

    # One ciphertext cannot be bound to several rows: such an UPDATE is refused.
    with pytest.raises(StatementError, match="without its row binding"), app.db.transaction() as s:
        s.execute(update(Candidate).where(col(Candidate.id).in_([zhang, li])).values(name="X"))
    assert (name_of(app, zhang), name_of(app, li)) == ("Zhang Wei", "Li Lei")


def test_the_key_fields_are_bound_to_cannot_change(app: App) -> None:
    with app.db.transaction() as session:
        session.add(KeyValue(key="wechat:menu:1", value="menu"))
    with app.db.transaction() as session:
        row = session.get(KeyValue, "wechat:menu:1")
        assert row is not None and row.value == "menu"
        row.value = "new menu"  # an ORM update by key: fine
    with app.db.transaction() as session:
        row = session.get(KeyValue, "wechat:menu:1")
        assert row is not None and row.value == "new menu"
        row.key = "wechat:menu:2"
        with pytest.raises(CryptoError, match="cannot change"):
            session.flush()
        session.rollback()
