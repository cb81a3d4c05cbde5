"""A real headless Chromium works the HR console: a sign-in link from the chat, the jobs
page, the demo-like job's table sorted and filtered, two candidates compared, a candidate with the evidence
highlighted and its voice answer played, a decision, and the live page updating
when an answer arrives. A screenshot of each page is saved under the test's
``tmp_path/output`` (printed with ``-s``)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from app.wiring import App
from bench.console_seed import attach_recording, seed_job, tone_wav
from core.clock import FakeClock
from storage.models import Answer, AuditEvent, Candidate, Decision, InterviewSession
from tests.harness import Chat
from tests.web.served import serve
from web.app import create_app
from web.console.routes import console_routes

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not on PATH"),
]


def serious_violations(page: Any, name: str) -> list[str]:
    """What axe-core finds of serious or critical impact on the page (injected by evaluate,
    so the page's CSP stays as it is)."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    return [
        f"{name}: {v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes']][:3]}"
        for v in result.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


@pytest.fixture
def served(app: App) -> Iterator[str]:
    with serve(create_app(app, extra_routes=console_routes(app))) as url:
        yield url


def test_hr_signs_in_from_chat_sorts_opens_and_decides(
    app: App, chat: Chat, clock: FakeClock, served: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    with app.db.transaction() as session:
        job = seed_job(session, "demo", 24, clock.now(), names=["王小明", "Ann Lee"])
        first = session.exec(
            select(Candidate.id).where(Candidate.job_id == job.id).order_by(col(Candidate.id))
        ).first()
        assert first is not None
        attach_recording(session, app.db.media, first, tone_wav(2.0))
    out = tmp_path / "output"
    out.mkdir()
    replies = chat.send("hr", "/console")
    link = next(
        m.group(1)
        for d in replies
        if (m := re.search(r"https?://\S+?(/console/login/\S+)", d.text))
    )
    errors: list[str] = []
    axe: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    errors.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )
            # Every answer is 2xx/3xx except the browser's own favicon request.
            page.on(
                "response",
                lambda r: (
                    errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            page.goto(served + link)
            page.screenshot(path=str(out / "1-sign-in.png"), full_page=True)
            page.click("#sign-in")
            page.wait_for_selector("table.jobs")
            assert "demo" in page.inner_text("table.jobs")
            page.screenshot(path=str(out / "2-jobs.png"), full_page=True)
            axe.extend(serious_violations(page, "jobs"))

            page.click("table.jobs a")
            page.wait_for_selector("table.candidates")
            assert "(24 candidates)" in page.inner_text(".pager")
            page.click('a[data-sort="total"]')  # total is the default, descending: now ascending
            page.wait_for_selector('a[data-sort="total"]:has-text("▲")')
            totals = [
                float(t)
                for t in page.locator("table.candidates tbody tr td:nth-child(4)").all_inner_texts()
                if t != "-"
            ]
            assert totals == sorted(totals) and len(totals) > 5
            page.select_option("#f-status", "completed")
            page.click(".filters button")
            page.wait_for_selector('a[data-sort="total"]:has-text("▲")')
            statuses = set(
                page.locator("table.candidates tbody tr td:nth-child(3)").all_inner_texts()
            )
            assert statuses == {"completed"}
            page.screenshot(path=str(out / "3-candidates-sorted-filtered.png"), full_page=True)
            axe.extend(serious_violations(page, "candidates"))
            boxes = page.locator('input[name="c"]')
            boxes.nth(0).check()
            boxes.nth(1).check()
            page.click("form#compare button")
            page.wait_for_selector("table.compare")
            assert page.locator("table.compare thead th").count() == 3
            page.screenshot(path=str(out / "3b-compare.png"), full_page=True)
            axe.extend(serious_violations(page, "compare"))
            page.go_back()
            page.wait_for_selector("table.candidates")

            page.click(f'a[href="/console/candidates/{first}"] >> nth=0')
            page.wait_for_selector("mark.el-action")
            assert "clear and specific" in page.inner_text(".legend")
            # The voice answer plays: decrypted on the server, fetched with range requests.
            page.wait_for_function(
                "() => { const a = document.querySelector('audio'); "
                "return a && a.readyState >= 1 && a.duration > 1.5; }"
            )
            page.evaluate("() => document.querySelector('audio').play()")
            page.wait_for_function("() => document.querySelector('audio').currentTime > 0.3")
            page.screenshot(path=str(out / "4-candidate.png"), full_page=True)
            axe.extend(serious_violations(page, "candidate"))

            page.click('.decision button[value="a"]')
            page.wait_for_selector("#notice")
            assert "Decision saved: approved" in page.inner_text("#notice")
            page.screenshot(path=str(out / "5-decided.png"), full_page=True)

            # The live page: an interview in progress gets an answer; the row updates by SSE.
            with app.db.transaction() as session:
                s = session.exec(
                    select(InterviewSession).where(InterviewSession.candidate_id == first)
                ).one()
                s.state = "question"
                session.add(s)
                sid = s.id or 0
            page.goto(f"{served}/console/jobs/{job.id}/live")
            page.wait_for_selector("#live-rows[data-updated]")
            assert page.locator("#live-rows tr td:nth-child(5)").inner_text() == "1"
            with app.db.transaction() as session:
                session.add(Answer(session_id=sid, position=1, kind="text", text="More."))
            page.wait_for_function(
                "() => document.querySelector('#live-rows tr td:nth-child(5)').textContent === '2'"
            )
            page.screenshot(path=str(out / "6-live.png"), full_page=True)
            axe.extend(serious_violations(page, "live"))
        finally:
            browser.close()
    assert errors == []
    assert axe == []
    with app.db.session() as session:
        decision = session.exec(select(Decision).where(Decision.candidate_id == first)).one()
        played = session.exec(
            select(AuditEvent.actor).where(AuditEvent.action == "recording_played")
        ).all()
    assert "console:hr" in played
    assert (decision.outcome, decision.decided_by) == ("approve", "console:hr")
    shots = sorted(p.name for p in out.iterdir())
    assert len(shots) == 7
    print("screenshots:", out)
