"""A real headless Chromium signs a contract on a phone-sized screen (uvicorn on 127.0.0.1).

Debian's /usr/bin/chromium is driven through Playwright's Python API; no browser is
downloaded. The resulting PDF must validate with pyHanko and with ``pdfsig``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.applications import Starlette

from contracts.files import ContractFiles
from contracts.service import create_contract, issue_signing_link, signed_pdf, unsigned_pdf
from contracts.signing import MAX_INK, MIN_INK, build_signer, validate_contract
from core.clock import FakeClock
from core.settings import ContractSettings
from storage.contract_models import Contract
from tests.contracts.support import (
    contract_files,
    good_terms,
    memory_engine,
    transaction_factory,
)
from tests.web.served import serve
from tests.web.test_signing_page import ChatCodes
from web.signing import signing_routes

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START = dt.datetime(2026, 2, 20, 2, 0, tzinfo=dt.UTC)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
    pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils not installed"),
]


@dataclass
class Server:
    url: str
    engine: Engine
    clock: FakeClock
    chat: ChatCodes
    files: ContractFiles
    data: Path

    def new_link(self) -> tuple[int, str]:
        with Session(self.engine) as s:
            contract = create_contract(
                s, candidate_id=7, terms=good_terms(), clock=self.clock, files=self.files
            )
            token = issue_signing_link(s, contract, clock=self.clock).token
            s.commit()
            assert contract.id is not None
            return contract.id, f"{self.url}/sign/{token}"

    def contract(self, contract_id: int) -> Contract:
        with Session(self.engine) as s:
            found = s.get(Contract, contract_id)
            assert found is not None
            return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    engine = memory_engine()
    clock = FakeClock(START)
    chat = ChatCodes()
    data = tmp_path / "data"
    signer = build_signer(ContractSettings(), data)
    files = contract_files(tmp_path / "files")
    app = Starlette(
        routes=signing_routes(transaction_factory(engine), chat, signer, files=files, clock=clock)
    )
    with serve(app) as url:
        yield Server(url, engine, clock, chat, files, data)


def test_candidate_signs_on_a_phone(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    contract_id, url = server.new_link()
    errors: list[str] = []
    failed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                locale="zh-CN",
            )
            page = context.new_page()
            # CSP violations and script errors show up as console errors
            page.on(
                "console",
                lambda msg: (
                    errors.append(msg.text)
                    if msg.type == "error" and not msg.text.startswith("Failed to load resource")
                    else None
                ),
            )
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            response = page.goto(url)
            assert response is not None
            assert response.status == 200
            assert response.headers["x-frame-options"] == "DENY"
            page.click("#send-code")
            page.wait_for_selector("#notice")
            assert "验证码已发送" in page.inner_text("#notice")
            code = server.chat.last

            wrong = f"{(int(code) + 1) % 1_000_000:06d}"
            page.fill("#code", wrong)
            page.click("#verify")
            page.wait_for_selector("#notice")
            assert "还可以尝试 4 次" in page.inner_text("#notice")

            page.fill("#code", code)
            page.click("#verify")
            page.wait_for_selector("#pad")
            assert "销售经理" in page.inner_text(".summary")
            page.wait_for_function(
                "() => { const i = document.querySelector('.pages img'); return i && i.complete && i.naturalWidth > 500; }"
            )

            pad = page.locator("#pad")
            pad.scroll_into_view_if_needed()
            box = pad.bounding_box()
            assert box is not None
            x, y, w, h = box["x"], box["y"], box["width"], box["height"]

            # A short tick is not a signature: the page says so before anything is sent.
            page.mouse.move(x + w * 0.5, y + h * 0.5)
            page.mouse.down()
            page.mouse.move(x + w * 0.5 + 25, y + h * 0.5 + 10, steps=3)
            page.mouse.up()
            page.check("#confirm")
            page.click("#submit")
            assert page.is_visible("#pad-error")
            assert "签名太小" in page.inner_text("#pad-error")
            assert page.locator("#pad").count() == 1
            page.click("#clear")
            page.uncheck("#confirm")
            # ticking and clicking may have scrolled the page: measure the pad again, or the
            # strokes can land beside it (a run drew nothing at all)
            pad.scroll_into_view_if_needed()
            box = pad.bounding_box()
            assert box is not None
            x, y, w, h = box["x"], box["y"], box["width"], box["height"]

            page.mouse.move(x + w * 0.1, y + h * 0.7)
            page.mouse.down()
            for i in range(1, 21):
                page.mouse.move(
                    x + w * (0.1 + 0.04 * i), y + h * (0.7 - 0.4 * ((i % 4) / 3)), steps=2
                )
            page.mouse.up()

            share = page.evaluate(
                "() => { const c = document.getElementById('pad');"
                " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                " let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 40) n++; }"
                " return n / (c.width * c.height); }"
            )
            # a normal signature passes with room to spare (the share varied from 1.3 to
            # 3.2 % between runs on a busy machine, with the pad's size in pixels)
            assert MIN_INK * 1.5 < share < MAX_INK
            page.click("#submit")  # the confirmation box is not ticked: the browser refuses
            assert page.locator("#pad").count() == 1
            page.check("#confirm")
            page.click("#submit")
            page.wait_for_selector("#message", timeout=60_000)
            assert "签署完成" in page.inner_text("#message")

            again = page.goto(url)  # the link works once
            assert again is not None
            assert again.status == 410
            tampered = url[:-3] + ("xyz" if not url.endswith("xyz") else "abc")
            refused = page.goto(tampered)
            assert refused is not None
            assert refused.status == 404
            context.close()
        finally:
            browser.close()
    assert errors == [], errors
    expected = {url, tampered, f"{url}/code?lang=zh"}  # used link, tampered link, the wrong code
    unexpected = [u for u in failed if not u.endswith("/favicon.ico") and u not in expected]
    assert unexpected == []

    contract = server.contract(contract_id)
    assert contract.status == "signed"
    for stored in (contract.signed_pdf_path, contract.unsigned_pdf_path):
        assert b"%PDF" not in Path(stored or "").read_bytes()  # encrypted at rest
    pdf = signed_pdf(contract, server.files)
    signer = build_signer(ContractSettings(), server.data)
    report = validate_contract(pdf, signer.trust_roots())
    assert report.ok, report
    unsigned = unsigned_pdf(contract, server.files)
    assert pdf.count(b"/Image") > unsigned.count(b"/Image")  # the drawn signature
    signed = server.data / "check-signed.pdf"  # a plaintext copy for pdfsig, in the test only
    signed.write_bytes(pdf)
    out = subprocess.run(["pdfsig", str(signed)], capture_output=True, text=True).stdout
    assert out.count("Signature is Valid.") == 3
    flipped = bytearray(pdf)
    flipped[len(flipped) // 2] ^= 0x01
    assert not validate_contract(bytes(flipped), signer.trust_roots()).ok


def test_expired_link_in_the_browser(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    _, url = server.new_link()
    server.clock.advance(hours=73)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            response = page.goto(url)
            assert response is not None
            assert response.status == 410
            assert "过期" in page.inner_text("#message")
        finally:
            browser.close()
