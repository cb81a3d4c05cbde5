"""The phone coding page: the link in the coding question, the editor page, drafts,
running the visible examples in the real sandbox, submitting once (the code then enters
the interview as a chat answer would), and links that are closed or out of time."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from coding.bwrap import BwrapSandbox
from core.clock import FakeClock
from storage.models import Answer, BackgroundJob, CodingLink
from tests.dialogs.interview.test_coding import (  # noqa: F401 - the fixtures
    SIEVE,
    app,
    hr_chat,
    reviewer,
    sandbox,
    start,
)
from tests.dialogs.privacy.test_privacy import files, unzip
from tests.harness import Chat
from web.app import create_app
from web.coding_page import MAX_RUNS, coding_routes


@pytest.fixture
def client(hr_chat: Chat, sandbox: BwrapSandbox) -> Iterator[TestClient]:  # noqa: F811
    web = create_app(hr_chat.app, extra_routes=coding_routes(hr_chat.app, lambda: sandbox))
    with TestClient(web, base_url="http://127.0.0.1:8080") as test_client:
        yield test_client


def link_of(question: str) -> str:
    found = re.search(r"http://127\.0\.0\.1:8080(/code/[A-Za-z0-9_-]+)", question)
    assert found, question
    return found.group(1)


def test_the_page_runs_examples_saves_drafts_and_submits_once(
    hr_chat: Chat,  # noqa: F811
    client: TestClient,
) -> None:
    _, question = start(hr_chat, "ann", "Ann Lee")
    path = link_of(question)
    page = client.get(path)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "Coding: read an integer n" in page.text
    assert "n = int(input())" in page.text  # the starter code in the editor
    assert client.get("/code/static/codemirror.js").status_code == 200
    assert client.get("/code/static/..%2Fapp.py").status_code == 404
    assert client.post(path + "/draft", json={"code": "print(1)"}).json() == {"saved": True}
    with hr_chat.app.db.session() as session:
        assert session.exec(select(CodingLink)).one().draft == "print(1)"
    assert "print(1)" in client.get(path).text  # the draft comes back
    ran = client.post(path + "/run", json={"code": "print(4)"}).json()
    assert ran["verdict"] == "wrong_answer"
    assert [(t["name"], t["verdict"]) for t in ran["tests"]] == [
        ("ten", "accepted"),
        ("hundred", "wrong_answer"),
    ]  # the visible examples only, never the hidden tests
    ran = client.post(path + "/run", json={"code": SIEVE}).json()
    assert ran["verdict"] == "accepted"
    done = client.post(path + "/submit", json={"code": SIEVE})
    assert done.status_code == 200 and done.json()["submitted"] is True
    hr_chat.flush()
    assert any("Answer 1 received" in d.text for d in hr_chat.messenger.to("ann"))
    assert client.post(path + "/submit", json={"code": "print(0)"}).status_code == 409
    assert client.get(path).status_code == 409
    with hr_chat.app.db.session() as session:
        answers = session.exec(select(Answer).where(Answer.kind == "code")).all()
        assert [a.text for a in answers] == [SIEVE.rstrip("\n")]
        assert session.exec(select(BackgroundJob).where(BackgroundJob.kind == "code")).one()


def test_bad_expired_and_overused_links(
    hr_chat: Chat,  # noqa: F811
    client: TestClient,
    clock: FakeClock,
) -> None:
    assert client.get("/code/not-a-token").status_code == 404
    _, question = start(hr_chat, "bob", "Bob Ray")
    path = link_of(question)
    bad_json = {"content-type": "application/json"}
    assert client.post(path + "/draft", content=b"{", headers=bad_json).status_code == 400
    assert client.post(path + "/draft", content=b"{}").status_code == 415  # no JSON type
    assert client.post(path + "/draft", json={"code": "x" * 60_000}).status_code == 413
    with hr_chat.app.db.transaction() as session:
        link = session.exec(select(CodingLink)).one()
        link.runs = MAX_RUNS
        session.add(link)
    assert client.post(path + "/run", json={"code": "print(4)"}).status_code == 429
    clock.advance(seconds=601)
    assert client.get(path).status_code == 410
    assert client.post(path + "/submit", json={"code": SIEVE}).status_code == 410


def test_deleteme_erases_the_coding_drafts(
    hr_chat: Chat,  # noqa: F811
    client: TestClient,
) -> None:
    _, question = start(hr_chat, "cy", "Cy Doe")
    path = link_of(question)
    assert client.post(path + "/draft", json={"code": "print('mine')"}).status_code == 200
    exported = files(hr_chat.send("cy", "/mydata"))
    [zipped] = exported or files(hr_chat.messenger.to("cy"))
    drafts = json.loads(unzip(zipped.file_data or b"")["coding_drafts.json"])
    assert [d["draft"] for d in drafts] == ["print('mine')"]
    assert "token_hash" not in drafts[0]
    [yes, _no] = hr_chat.send("cy", "/deleteme")[-1].button_data
    hr_chat.send("cy", f"/press {yes}")
    with hr_chat.app.db.session() as session:
        assert session.exec(select(CodingLink)).all() == []
    assert client.get(path).status_code == 404
