"""Invitation tokens: handed out once, stored only as a hash, looked up by that hash."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest
from sqlmodel import select

from dialogs.invitations.bulk_invite import SHEET_JOB
from dialogs.kernel.events import FileReceived, MediaRef
from dialogs.scheduling import flow as scheduling
from storage import queue
from storage.crypto import token_hash
from storage.models import Invitation
from tests.dialogs.token_helpers import database_text, link_tokens
from tests.harness import Chat


@pytest.fixture
def sched(chat: Chat) -> Chat:
    scheduling.install(chat.app)
    chat.run_jobs = True
    chat.create_job()
    return chat


def _invite(chat: Chat, name: str) -> tuple[str, str]:
    """HR invites; returns the token of the link in the reply and the identity code."""
    reply = chat.send("hr", f"/invite sales {name}")[0].text
    (token,) = link_tokens(reply)
    with chat.app.db.session() as session:
        inv = session.exec(
            select(Invitation).where(Invitation.token_hash == token_hash(token))
        ).one()
    return token, inv.code


def _sheet_tokens(pdf: bytes) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    return link_tokens(text)


def test_the_database_keeps_only_a_hash_of_the_link(sched: Chat) -> None:
    token, code = _invite(sched, "Wang Fang")
    stored = database_text(sched.app)
    assert token not in stored
    assert token_hash(token) in stored
    replies = sched.start_interview("wang", "Wang Fang", token, code)
    assert "Question 1 of" in replies[-1].text

    # a link that is only the stored hash opens nothing
    assert "not valid" in sched.send("mallory", f"/start {token_hash(token)}", lang="en")[-1].text


def test_imported_invitations_leave_no_link_in_the_database(sched: Chat) -> None:
    data = b"name,phone\nAlex Chen,13800138000\nFay Ho,13900139000\n"
    path, digest = sched.app.db.media.put(data, ".csv")
    replies = sched.deliver(
        FileReceived(
            event_id=f"console:{uuid.uuid4().hex}",
            platform="console",
            chat_id="hr",
            user_id="hr",
            language_hint="en",
            media=MediaRef(path=path, sha256=digest, file_name="p.csv", size_bytes=len(data)),
            caption="/importcandidates sales",
        )
    )
    summary = next(d.text for d in replies if "2 invited" in d.text)
    tokens = link_tokens(summary)
    assert len(tokens) == 2
    stored = database_text(sched.app)
    assert not [t for t in tokens if t in stored]
    if shutil.which("pdftotext"):
        (pdf,) = [d.file_data for d in replies if d.kind == "file"]
        assert pdf is not None
        assert sorted(_sheet_tokens(pdf)) == sorted(tokens)  # the sheet prints the same links
    with sched.app.db.session() as session:
        code = session.exec(
            select(Invitation.code).where(Invitation.token_hash == token_hash(tokens[0]))
        ).one()
    assert "Question 1 of" in sched.start_interview("alex", "Alex Chen", tokens[0], code)[-1].text


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_a_reprinted_sheet_gives_unopened_invitations_new_links(sched: Chat) -> None:
    old_wang, wang_code = _invite(sched, "Wang Fang")
    tom, tom_code = _invite(sched, "Tom Baker")
    sched.start_interview("tom", "Tom Baker", tom, tom_code)

    replies = sched.send("hr", "/invitesheet sales")
    assert "1 invitation(s) not opened yet" in replies[0].text
    assert "links sent before" in replies[0].text and "no longer work" in replies[0].text
    (pdf,) = [d.file_data for d in replies if d.kind == "file"]
    assert pdf is not None
    (new_wang,) = _sheet_tokens(pdf)  # Tom is in his interview already: not on the sheet
    assert new_wang != old_wang
    assert new_wang not in database_text(sched.app)

    assert "not valid" in sched.send("wang", f"/start {old_wang}", lang="en")[-1].text
    replies = sched.start_interview("wang", "Wang Fang", new_wang, wang_code)
    assert "Question 1 of" in replies[-1].text
    # Tom's interview goes on; his link still resumes it
    assert "Question" in sched.send("tom", f"/start {tom}")[-1].text


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_a_sheet_queued_before_tokens_were_hashed_prints_new_links(sched: Chat) -> None:
    old, _ = _invite(sched, "Wang Fang")
    with sched.app.db.transaction() as session:
        inv = session.exec(select(Invitation)).one()
        # as migration 0002 leaves a sheet job that was waiting: ids only, no tokens
        queue.enqueue(
            session,
            SHEET_JOB,
            {"invitation_ids": [inv.id], "platform": "console", "chat_id": "hr", "lang": "en"},
            key="sheet:before-upgrade",
            now=sched.app.services.clock.now(),
        )
    before = len(sched.messenger.delivered)
    sched.flush()
    (pdf,) = [d.file_data for d in sched.messenger.delivered[before:] if d.kind == "file"]
    assert pdf is not None
    (new,) = _sheet_tokens(pdf)
    assert new != old
    assert "not valid" in sched.send("wang", f"/start {old}", lang="en")[-1].text
    assert "not valid" not in sched.send("wang", f"/start {new}", lang="en")[-1].text
