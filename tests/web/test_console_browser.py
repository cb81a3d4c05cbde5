"""A real headless Chromium works the HR console: a sign-in link from the chat, the jobs
page, the demo-like job's table sorted and filtered (status, then a competency's minimum
and people's scores) with its charts, two candidates compared, a candidate with the
evidence highlighted and its voice answer played, a score given (the other rater's
score shown only then), a viewer's decision refused (a second browser signed in from
the viewer's own chat link), a decision, the CSV export (formula cells neutralised),
and the live page updating when a candidate answers in the chat. A screenshot of each
page is saved under the test's ``tmp_path/output`` (printed with ``-s``)."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from app.wiring import App
from bench.console_seed import attach_recording, seed_job, tone_wav
from core.clock import FakeClock
from storage.models import AuditEvent, Candidate, Decision, HumanScore
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

EVIL = '=HYPERLINK("http://x","y")'
STAR_ANSWER = (
    "Last spring a key client was about to leave because our deliveries were late. "
    "My task was to keep the account within two weeks, so I called them every day, "
    "moved two people onto weekend shifts and reported progress each Friday. "
    "As a result they renewed for another year and late deliveries fell to zero."
)

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


def chart_overlaps(page: Any) -> list[str]:
    """In the browser's own layout: each chart label's box against the chart's title,
    the other labels and the bars, and its text against its own white box."""
    found: list[str] = page.evaluate(
        """() => {
        const out = [];
        const r = (e) => e.getBoundingClientRect();
        const hit = (a, b) => !(a.right <= b.left || b.right <= a.left ||
                                a.bottom <= b.top || b.bottom <= a.top);
        for (const svg of document.querySelectorAll('svg.chart')) {
          const title = r(svg.querySelector('.chart-title'));
          const labels = [...svg.querySelectorAll('.chart-label')];
          const bars = [...svg.querySelectorAll('.chart-bar rect, .chart-bin rect')]
            .map(r).filter((b) => b.width > 0 && b.height > 0);
          if (labels.length < 1) out.push(svg.id + ': no line label');
          labels.forEach((g, i) => {
            const box = r(g.querySelector('rect')), text = r(g.querySelector('text'));
            const role = g.dataset.role;
            if (hit(box, title)) out.push(`${svg.id}: ${role} label on the title`);
            if (bars.some((b) => hit(box, b))) out.push(`${svg.id}: ${role} label on a bar`);
            if (text.left < box.left || text.right > box.right)
              out.push(`${svg.id}: ${role} text outside its box`);
            labels.slice(i + 1).forEach((h) => {
              if (hit(box, r(h.querySelector('rect'))))
                out.push(`${svg.id}: ${role} label on ${h.dataset.role}`);
            });
          });
        }
        return out;
      }"""
    )
    return found


def chat_link(chat: Chat, user: str) -> str:
    replies = chat.send(user, "/console")
    return next(
        m.group(1)
        for d in replies
        if (m := re.search(r"https?://\S+?(/console/login/\S+)", d.text))
    )


@pytest.fixture
def served(app: App) -> Iterator[str]:
    with serve(create_app(app, extra_routes=console_routes(app))) as url:
        yield url


def test_hr_signs_in_from_chat_sorts_opens_and_decides(
    app: App, chat: Chat, clock: FakeClock, served: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    with app.db.transaction() as session:
        job = seed_job(session, "demo", 24, clock.now(), names=["王小明", "Ann Lee", EVIL])
        first = session.exec(
            select(Candidate.id).where(Candidate.job_id == job.id).order_by(col(Candidate.id))
        ).first()
        assert first is not None
        attach_recording(session, app.db.media, first, tone_wav(2.0))
        # Another rater has scored the first competency; hr sees it only after scoring.
        session.add(
            HumanScore(
                candidate_id=first, competency="customer_focus", score=3, scorer="console:hr2"
            )
        )
    # A job made in the chat, and a candidate in its interview (text answers).
    live_job = chat.create_job("live")
    token, code = chat.invite("Lily Live", "live")
    chat.start_interview("lily", "Lily Live", token, code, voice=False)
    out = tmp_path / "output"
    out.mkdir()
    link = chat_link(chat, "hr")
    viewer_link = chat_link(chat, "viewer")
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

            job_url = page.url
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

            # Scoring: the other rater's 3 is hidden until hr gives a score of their own.
            people = page.locator("table:has(caption:text('Scores per competency')) tbody tr")
            assert "1 scored — shown after you give yours" in people.nth(0).inner_text()
            page.select_option("#s0", "5")
            page.fill("#c0", "clear, measurable result")
            page.click("form.score:has(#s0) button")
            page.wait_for_selector("#notice")
            assert "Your score is saved." in page.inner_text("#notice")
            row = page.locator("table:has(caption:text('Scores per competency')) tbody tr").nth(0)
            assert "3.0 (n=1)" in row.inner_text() and "5" in row.inner_text()
            page.screenshot(path=str(out / "4b-scored-others-shown.png"), full_page=True)
            axe.extend(serious_violations(page, "candidate scored"))

            # A viewer, signed in from their own chat link in a second browser: refused.
            viewer_context = browser.new_context(
                viewport={"width": 1280, "height": 900}, locale="en-US"
            )
            viewer = viewer_context.new_page()
            viewer.goto(served + viewer_link)
            viewer.click("#sign-in")
            viewer.wait_for_selector("table.jobs")
            viewer.goto(f"{served}/console/candidates/{first}")
            viewer.wait_for_selector(".decision button")
            with viewer.expect_response(lambda r: r.url.endswith("/decide")) as refused:
                viewer.click('.decision button[value="a"]')
            assert refused.value.status == 403
            viewer.wait_for_selector('[role="alert"]')
            assert "HR manager" in viewer.inner_text('[role="alert"]')
            viewer.screenshot(path=str(out / "4c-viewer-refused.png"), full_page=True)
            axe.extend(serious_violations(viewer, "viewer refused"))
            viewer_context.close()
            with app.db.session() as session:
                pending = session.exec(select(Decision).where(Decision.candidate_id == first))
                assert pending.one().status == "pending"

            page.click('.decision button[value="a"]')
            page.wait_for_selector("#notice")
            assert "Decision saved: approved" in page.inner_text("#notice")
            page.screenshot(path=str(out / "5-decided.png"), full_page=True)

            # The new filters: a competency's minimum, then people's scores; and the charts.
            page.goto(job_url)
            page.wait_for_selector("table.candidates")
            page.set_viewport_size({"width": 1280, "height": 900})
            page.select_option("#f-status", "")
            page.select_option("#f-comp", "communication")
            page.fill("#f-comp_min", "60")
            page.click(".filters button")
            page.wait_for_url(re.compile(r"comp=communication&comp_min=60"))
            with app.db.session() as session:
                from storage.models import CandidateScore

                wanted = {
                    s.candidate_id
                    for s in session.exec(
                        select(CandidateScore).where(CandidateScore.job_id == job.id)
                    ).all()
                    if (s.per_competency.get("communication") or 0) >= 60
                }
            shown = {
                int(t.lstrip("#"))
                for t in page.locator("table.candidates tbody tr td:nth-child(1)").all_inner_texts()
            }
            assert shown == wanted and 0 < len(shown) < 24
            bars = page.locator("#chart-ranking .chart-bar").count()
            assert bars == min(20, len(wanted))
            assert page.locator("#chart-histogram .chart-bin").count() == 10
            assert chart_overlaps(page) == []
            page.locator("#chart-ranking").scroll_into_view_if_needed()
            page.screenshot(path=str(out / "7-filter-competency-charts.png"), full_page=True)
            axe.extend(serious_violations(page, "filtered with charts"))
            page.select_option("#f-comp", "")  # its minimum alone is ignored
            page.select_option("#f-human", "yes")
            page.click(".filters button")
            page.wait_for_url(re.compile(r"human=yes"))
            ids = page.locator("table.candidates tbody tr td:nth-child(1)").all_inner_texts()
            assert ids == [f"#{first}"]
            assert page.locator("#chart-ranking .chart-bar").count() == 1
            assert chart_overlaps(page) == []  # one candidate: the labels still clear
            page.screenshot(path=str(out / "8-filter-human-one-candidate.png"), full_page=True)
            axe.extend(serious_violations(page, "one candidate charts"))

            # Export: the CSV downloads and a formula-looking name is neutralised.
            with page.expect_download() as download:
                page.click('a[href$="/export.csv"]')
            saved = out.parent / "export.csv"
            download.value.save_as(saved)
            rows = list(csv.reader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
            names = [r[1] for r in rows[1:]]
            assert len(rows) == 25 and "'" + EVIL in names and EVIL not in names

            # The live page: Lily answers in the chat; her row updates by SSE.
            page.goto(f"{served}/console/jobs/{live_job.id}/live")
            page.wait_for_selector("#live-rows[data-updated]")
            cells = page.locator("#live-rows tr td")
            assert "Lily Live" in page.inner_text("#live-rows")
            assert cells.nth(4).inner_text() == "0"
            # The chat's harness runs its own event loop: not on Playwright's thread.
            with ThreadPoolExecutor(1) as pool:
                told = pool.submit(chat.send, "lily", STAR_ANSWER).result(timeout=60)
            assert told  # the interview dialog took the answer (and said so, or asked on)
            page.wait_for_function(
                "() => document.querySelector('#live-rows tr td:nth-child(5)').textContent === '1'"
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
    assert len(shots) == 11, shots
    print("screenshots:", out)
