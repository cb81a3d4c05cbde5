"""A real headless Chromium on a phone-sized screen uses the coding page: CodeMirror
loads under the page's content security policy, the draft is saved, the examples run in
the sandbox and the code is submitted once (uvicorn on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from coding.bwrap import BwrapSandbox
from storage.models import Answer, CodingLink
from tests.dialogs.interview.test_coding import (  # noqa: F401 - the fixtures
    SIEVE,
    app,
    hr_chat,
    reviewer,
    sandbox,
    start,
)
from tests.harness import Chat
from tests.web.served import serve
from tests.web.test_coding_page import link_of
from tests.web.test_signing_browser import CHROMIUM, FLAGS
from web.app import create_app
from web.coding_page import coding_routes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]


@pytest.fixture
def base_url(hr_chat: Chat, sandbox: BwrapSandbox) -> Iterator[str]:  # noqa: F811
    web = create_app(hr_chat.app, extra_routes=coding_routes(hr_chat.app, lambda: sandbox))
    with serve(web) as url:
        yield url


def test_a_candidate_codes_on_a_phone(hr_chat: Chat, base_url: str) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    _, question = start(hr_chat, "ann", "Ann Lee")
    url = base_url + link_of(question)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda dialog: dialog.accept())
            response = page.goto(url)
            assert response is not None and response.status == 200
            page.wait_for_selector(".CodeMirror")
            page.evaluate(
                "code => document.querySelector('.CodeMirror').CodeMirror.setValue(code)", SIEVE
            )
            page.wait_for_function(
                "() => document.getElementById('status').textContent === 'Draft saved'"
            )
            page.click("#run")
            page.wait_for_function(
                "() => document.getElementById('results').textContent.includes('hundred: accepted')"
            )
            page.click("#submit")
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('Submitted')"
            )
            assert page.locator("#run").is_disabled()
        finally:
            browser.close()
    assert errors == []
    with hr_chat.app.db.session() as session:
        assert session.exec(select(CodingLink)).one().submitted_at is not None
        answer = session.exec(select(Answer).where(Answer.kind == "code")).one()
        assert answer.text == SIEVE.rstrip("\n")
