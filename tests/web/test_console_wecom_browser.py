"""A real headless Chromium signs in to the console with WeCom: the console on
127.0.0.1, WeCom's authorize page (a fake) on ``localhost`` (another site, so the
browser's SameSite rules are those of the real flow), the code exchanged at the fake
WeCom API; then writes a note on a candidate and downloads the signed contract.
Screenshots under the test's ``tmp_path/output``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from app.wiring import App, build_app
from bench.console_seed import seed_job
from core.clock import FakeClock
from dialogs.kernel.roles import set_grant
from storage.models import AuditEvent, Candidate
from tests.conftest import make_settings
from tests.fakes.wechat_api import AGENT_ID, CORP_ID, FakeWeChat
from tests.web.served import serve
from tests.web.test_console_browser import CHROMIUM, FLAGS, serious_violations
from tests.web.test_console_notes import PDF, add_contract
from web.app import create_app
from web.console.routes import console_routes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not on PATH"),
    # A browser and the same code path on both databases: SQLite only.
    pytest.mark.postgres_subset.with_args(lambda params: False),
]


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture
def app(tmp_path: Path, db_url: str, clock: FakeClock, fake: FakeWeChat) -> Iterator[App]:
    settings = make_settings(
        tmp_path,
        db_url,
        app={"default_language": "en"},
        wechat={
            "corp_id": CORP_ID,
            "corp_secret": "work-secret-value",
            "agent_id": AGENT_ID,
            "work_api_base_url": fake.base_url,
            "work_oauth": True,
            # "localhost" is another site than the console's 127.0.0.1.
            "work_oauth_url": fake.authorize_url.replace("127.0.0.1", "localhost"),
        },
    )
    application = build_app(settings, clock=clock)
    with application.db.transaction() as session:
        job = seed_job(session, "sales", 3, clock.now(), names=["Ann Lee"])
        set_grant(session, "wecom", "hr_li", "hr_manager", job.id, clock.now())
    yield application
    application.db.engine.dispose()


def test_chromium_signs_in_with_wecom(
    app: App, fake: FakeWeChat, clock: FakeClock, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    with app.db.session() as session:
        cid = session.exec(select(Candidate.id).order_by(col(Candidate.id))).first()
        assert cid is not None
    contract_id = add_contract(app, clock, cid, "HT-20261203-WECOM", "signed")
    out = tmp_path / "output"
    out.mkdir()
    fake.signs_in_as = "hr_li"
    with serve(create_app(app, extra_routes=console_routes(app))) as url:
        app.settings.app.public_base_url = url  # WeCom sends the person back here
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
            try:
                context = browser.new_context(viewport={"width": 390, "height": 844})
                page = context.new_page()
                page.goto(url + "/console")
                page.screenshot(path=str(out / "wecom-1-sign-in.png"), full_page=True)
                assert serious_violations(page, "sign-in") == []
                page.click("#wecom-sign-in")
                page.wait_for_url(url + "/console")  # via WeCom's page and the callback
                assert "Signed in as wecom:hr_li" in page.content()
                assert page.locator("text=sales").count() >= 1
                page.screenshot(path=str(out / "wecom-2-jobs.png"), full_page=True)
                cookies = {c["name"]: c for c in context.cookies()}
                assert cookies["console_session"]["sameSite"] == "Strict"
                assert "console_oauth" not in cookies  # spent

                page.goto(f"{url}/console/candidates/{cid}")
                page.fill("#note-text", "Call back on Friday.")
                page.click("text=Add the note")
                assert "Your note is saved." in page.content()
                assert page.locator("li.note").count() == 1
                with page.expect_download() as download:
                    page.click("text=Download the signed PDF")
                saved = out / "signed.pdf"
                download.value.save_as(saved)
                assert saved.read_bytes() == PDF
                assert download.value.suggested_filename == f"contract-{contract_id}-signed.pdf"
                page.screenshot(
                    path=str(out / "wecom-3-candidate-note-contract.png"), full_page=True
                )
                assert serious_violations(page, "candidate") == []
            finally:
                browser.close()
    assert [c.query.get("code", "")[:6] for c in fake.of("auth/getuserinfo")] == ["login-"]
    with app.db.session() as session:
        audits = session.exec(select(AuditEvent)).all()
    acts = [(a.actor, a.action) for a in audits if a.action != "report_read"]
    assert acts == [
        ("wecom:hr_li", "console_sign_in"),
        ("wecom:hr_li", "note_added"),
        ("wecom:hr_li", "contract_viewed"),
    ]
    print(f"screenshots: {sorted(p.name for p in out.iterdir())}")
