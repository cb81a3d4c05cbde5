"""The signing page over HTTP (Starlette's test client): codes, lockout, links, headers."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import html
import io
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from PIL import Image, ImageDraw
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app.wiring import App
from contracts.files import ContractFiles
from contracts.messages import PAGE, Lang
from contracts.service import create_contract, issue_signing_link, signed_pdf
from contracts.signing import (
    MAX_SIGNATURE_HEIGHT,
    MAX_SIGNATURE_WIDTH,
    PyHankoSigner,
    SealedContract,
    SealRequest,
    build_signer,
    sha256_hex,
    validate_contract,
)
from core.clock import FakeClock
from core.errors import SigningError
from core.settings import ContractSettings
from storage.contract_models import Contract, Employee, SigningLink
from tests.contracts.support import (
    contract_files,
    good_terms,
    memory_engine,
    seed_signing_link,
    transaction_factory,
)
from web.signing import COOKIE, SECURITY_HEADERS, signing_routes

START = dt.datetime(2026, 2, 20, 2, 0, tzinfo=dt.UTC)
BASE = "http://127.0.0.1"


@dataclass
class ChatCodes:
    """A fake CodeSender: the candidate's chat, as a list of delivered codes."""

    sent: list[tuple[int, int, str, str]] = field(default_factory=list)
    fail: bool = False

    def __call__(self, *, candidate_id: int, contract_id: int, code: str, language: str) -> None:
        if self.fail:
            raise ConnectionError("chat platform down")
        self.sent.append((candidate_id, contract_id, code, language))

    @property
    def last(self) -> str:
        return self.sent[-1][2]


class DownSigner:
    """A backend whose timestamp server is down."""

    def seal(self, unsigned_pdf: bytes, request: SealRequest) -> SealedContract:
        raise SigningError("TSA unreachable")

    def trust_roots(self) -> list[x509.Certificate]:
        return []


@dataclass
class Site:
    client: TestClient
    engine: Engine
    clock: FakeClock
    chat: ChatCodes
    files: ContractFiles
    signed: list[int]
    declined: list[int]

    def new_link(self, candidate_id: int = 7) -> str:
        with Session(self.engine) as s:
            contract = create_contract(
                s,
                candidate_id=candidate_id,
                terms=good_terms(),
                clock=self.clock,
                files=self.files,
            )
            token = issue_signing_link(s, contract, clock=self.clock).token
            s.commit()
        return token

    def verify(self, token: str) -> None:
        assert self.client.post(f"/sign/{token}/code/send").status_code == 200
        response = self.client.post(f"/sign/{token}/code", data={"code": self.chat.last})
        assert response.status_code == 200, response.text

    def contract(self) -> Contract:
        with Session(self.engine) as s:
            return s.exec(select(Contract).order_by(Contract.id.desc())).first()  # type: ignore[union-attr,return-value]


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> PyHankoSigner:
    return build_signer(ContractSettings(), tmp_path_factory.mktemp("data"))


def _site(tmp_path: Path, signer: PyHankoSigner | DownSigner) -> Iterator[Site]:
    engine = memory_engine()
    clock = FakeClock(START)
    chat = ChatCodes()
    signed: list[int] = []
    declined: list[int] = []
    files = contract_files(tmp_path)
    routes = signing_routes(
        transaction_factory(engine), chat, signer, files=files, clock=clock,
        on_signed=signed.append, on_declined=declined.append,
    )  # fmt: skip
    with TestClient(Starlette(routes=routes), base_url=BASE) as client:
        yield Site(client, engine, clock, chat, files, signed, declined)


@pytest.fixture
def site(tmp_path: Path, signer: PyHankoSigner) -> Iterator[Site]:
    yield from _site(tmp_path, signer)


def test_security_headers_everywhere(site: Site) -> None:
    token = site.new_link()
    for response in (
        site.client.get(f"/sign/{token}"),
        site.client.get("/sign/nonexistent-token"),
        site.client.get("/sign/static/signing_pad.js"),
        site.client.get(f"/sign/{token}/contract.pdf"),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_unknown_and_tampered_links_are_refused(site: Site) -> None:
    token = site.new_link()
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, "x", token + "x"):
        response = site.client.get(f"/sign/{bad}")
        assert response.status_code == 404
        assert "张三" not in response.text
    assert site.client.post(f"/sign/{tampered}/code/send").status_code == 404
    assert site.chat.sent == []


def test_nothing_personal_before_the_code(site: Site) -> None:
    token = site.new_link()
    page = site.client.get(f"/sign/{token}")
    assert page.status_code == 200
    assert "11010519491231002X" not in page.text
    assert "12,000" not in page.text
    assert site.client.get(f"/sign/{token}/contract.pdf").status_code == 404
    assert site.client.get(f"/sign/{token}/page/1.png").status_code == 404


def test_the_code_goes_only_to_the_chat(site: Site) -> None:
    token = site.new_link(candidate_id=42)
    response = site.client.post(f"/sign/{token}/code/send", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("sent=1")
    assert len(site.chat.sent) == 1
    candidate_id, contract_id, code, language = site.chat.sent[0]
    assert (candidate_id, language) == (42, "zh")
    assert contract_id == site.contract().id
    page = site.client.get(response.headers["location"])
    assert not re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", page.text)
    assert "验证码已发送" in page.text
    again = site.client.post(f"/sign/{token}/code/send", follow_redirects=False)
    assert "wait=" in again.headers["location"]
    assert len(site.chat.sent) == 1


def test_five_wrong_codes_lock_the_link(site: Site) -> None:
    token = site.new_link()
    site.client.post(f"/sign/{token}/code/send")
    wrong = f"{(int(site.chat.last) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        response = site.client.post(f"/sign/{token}/code", data={"code": wrong})
        assert response.status_code == 400
        assert f"还可以尝试 {left} 次" in response.text
        assert f'href="/sign/{token}?lang=en"' in response.text  # the language switch is a GET
    response = site.client.post(f"/sign/{token}/code", data={"code": wrong})
    assert response.status_code == 423
    # the right code no longer helps, and the link stays locked
    assert site.client.post(f"/sign/{token}/code", data={"code": site.chat.last}).status_code == 423
    assert site.client.get(f"/sign/{token}").status_code == 423
    assert COOKIE not in site.client.cookies


def test_session_cookie_is_bound_to_its_link(site: Site) -> None:
    first, second = site.new_link(), site.new_link()
    site.verify(first)
    cookie = next(c for c in site.client.cookies.jar if c.name == COOKIE)
    assert cookie.path == f"/sign/{first}"
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert site.client.get(f"/sign/{first}/contract.pdf").content.startswith(b"%PDF")
    copied = TestClient(site.client.app, base_url=BASE, cookies={COOKIE: cookie.value or ""})
    assert copied.get(f"/sign/{first}/contract.pdf").status_code == 200
    assert copied.get(f"/sign/{second}/contract.pdf").status_code == 404


@pytest.mark.slow
def test_contract_pages_render_as_images(site: Site) -> None:
    token = site.new_link()
    site.verify(token)
    page = site.client.get(f"/sign/{token}")
    assert "销售经理" in page.text
    images = re.findall(r'<img src="([^"]+)"', page.text)
    assert len(images) == site.contract().pages
    png = site.client.get(images[0])
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert site.client.get(images[0]).content == png.content  # from the in-memory cache
    assert site.client.get(f"/sign/{token}/page/99.png").status_code == 404
    # Neither the PDF nor the page images are on disk in plaintext: only the ciphertext.
    on_disk = [p for p in site.files.root.rglob("*") if p.is_file()]
    assert [p.name for p in on_disk] == ["contract.pdf.enc"]
    assert b"%PDF" not in on_disk[0].read_bytes()
    assert b"PNG" not in on_disk[0].read_bytes()[:16]


def test_pdf_download_is_the_decrypted_contract_and_fails_closed(site: Site) -> None:
    token = site.new_link()
    site.verify(token)
    contract = site.contract()
    download = site.client.get(f"/sign/{token}/contract.pdf")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert f'filename="{contract.contract_no}.pdf"' in download.headers["content-disposition"]
    assert sha256_hex(download.content) == contract.unsigned_sha256
    stored = Path(contract.unsigned_pdf_path or "")
    assert b"%PDF" not in stored.read_bytes()
    # A file that fails authentication is not served, and the page image neither.
    blob = bytearray(stored.read_bytes())
    blob[-1] ^= 1
    stored.write_bytes(bytes(blob))
    assert site.client.get(f"/sign/{token}/contract.pdf").status_code == 404
    assert site.client.get(f"/sign/{token}/page/1.png").status_code == 404


def test_typed_signature_flow_and_reuse(site: Site, signer: PyHankoSigner) -> None:
    token = site.new_link()
    site.verify(token)
    no_confirm = site.client.post(
        f"/sign/{token}/sign", data={"mode": "type", "typed_name": "张三"}
    )
    assert no_confirm.status_code == 400
    wrong_name = site.client.post(
        f"/sign/{token}/sign", data={"mode": "type", "typed_name": "李四", "confirm": "yes"}
    )
    assert wrong_name.status_code == 400
    assert "不一致" in wrong_name.text
    blank = site.client.post(
        f"/sign/{token}/sign", data={"mode": "draw", "signature_png": "", "confirm": "yes"}
    )
    assert blank.status_code == 400
    done = site.client.post(
        f"/sign/{token}/sign", data={"mode": "type", "typed_name": "张 三", "confirm": "yes"}
    )
    assert done.status_code == 200, done.text
    contract = site.contract()
    assert contract.status == "signed"
    assert contract.signed_sha256 and contract.signed_sha256 in done.text
    assert site.signed == [contract.id]
    assert validate_contract(signed_pdf(contract, site.files), signer.trust_roots()).ok
    assert b"%PDF" not in Path(contract.signed_pdf_path or "").read_bytes()
    # the link works once
    assert site.client.get(f"/sign/{token}").status_code == 410
    again = site.client.post(
        f"/sign/{token}/sign", data={"mode": "type", "typed_name": "张三", "confirm": "yes"}
    )
    assert again.status_code == 410
    with Session(site.engine) as s:
        assert len(s.exec(select(Employee)).all()) == 1


def test_decline_with_reason(site: Site) -> None:
    token = site.new_link()
    site.verify(token)
    assert site.client.post(f"/sign/{token}/decline", data={"reason": " "}).status_code == 400
    response = site.client.post(f"/sign/{token}/decline", data={"reason": "工作地点太远"})
    assert response.status_code == 200
    contract = site.contract()
    assert (contract.status, contract.decline_reason) == ("declined", "工作地点太远")
    assert site.declined == [contract.id]
    assert site.client.get(f"/sign/{token}").status_code == 410


def test_expired_link(site: Site) -> None:
    token = site.new_link()
    site.clock.advance(hours=72)
    response = site.client.get(f"/sign/{token}")
    assert response.status_code == 410
    assert "过期" in response.text
    assert "expired" in site.client.get(f"/sign/{token}?lang=en").text


def test_chat_delivery_failure_is_reported(site: Site) -> None:
    token = site.new_link()
    site.chat.fail = True
    assert site.client.post(f"/sign/{token}/code/send").status_code == 502


def test_sealing_failure_keeps_the_link(tmp_path: Path) -> None:
    for site in _site(tmp_path, DownSigner()):
        token = site.new_link()
        site.verify(token)
        response = site.client.post(
            f"/sign/{token}/sign", data={"mode": "type", "typed_name": "张三", "confirm": "yes"}
        )
        assert response.status_code == 503
        assert site.contract().status == "sent"
        assert site.signed == []
        assert site.client.get(f"/sign/{token}").status_code == 200


# --- the notice after asking for codes too fast --------------------------------------


def _notice(page: str) -> str:
    found = re.search(r'<p class="notice" id="notice">(.*?)</p>', page)
    assert found, page
    return found.group(1)


@pytest.mark.parametrize(
    "wait",
    [
        "-5",
        "0",
        "61",
        "99999999999999999999999",
        "٣٠",  # Arabic-Indic digits: int() reads them as 30
        "３０",  # full-width digits
        "3.5",
        "1e3",
        "",
        "30 秒后请拨打客服电话 400-000-0000 并提供验证码",
        "<b>30</b>",
    ],
)
def test_the_wait_notice_shows_a_bounded_number_only(site: Site, wait: str) -> None:
    token = site.new_link()
    page = site.client.get(f"/sign/{token}", params={"wait": wait})
    assert page.status_code == 200
    notice = _notice(page.text)
    found = re.fullmatch(r"请 ([0-9]+) 秒后再重新发送。", notice)
    assert found, notice
    assert 1 <= int(found.group(1)) <= 60
    assert "400" not in notice and "&lt;" not in notice


def test_the_wait_notice_keeps_the_servers_number(site: Site) -> None:
    token = site.new_link()
    site.client.post(f"/sign/{token}/code/send")
    site.clock.advance(seconds=15)
    again = site.client.post(f"/sign/{token}/code/send", follow_redirects=False)
    assert again.headers["location"].endswith("wait=45")
    assert _notice(site.client.get(again.headers["location"]).text) == "请 45 秒后再重新发送。"
    english = site.client.get(f"/sign/{token}?lang=en&wait=45")
    assert _notice(english.text) == "Please wait 45 s before asking again."


# --- drawn signatures -----------------------------------------------------------------


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _drawn(size: tuple[int, int] = (668, 400), background: str | None = None) -> bytes:
    image = Image.new("RGBA", size, background or (0, 0, 0, 0))
    w, h = size
    strokes = [(w * (0.1 + 0.04 * i), h * (0.7 - 0.4 * ((i % 4) / 3))) for i in range(21)]
    ImageDraw.Draw(image).line(strokes, fill=(0, 0, 0, 255), width=5)
    return _png(image)


def _draw(site: Site, token: str, signature: str, lang: str = "zh") -> tuple[int, str]:
    """Submit a drawn signature; the status and the page that comes back."""
    response = site.client.post(
        f"/sign/{token}/sign?lang={lang}",
        data={"mode": "draw", "signature_png": signature, "confirm": "yes"},
    )
    return response.status_code, response.text


def test_a_drawn_signature_is_sealed(site: Site, signer: PyHankoSigner) -> None:
    token = site.new_link()
    site.verify(token)
    status, page = _draw(site, token, _data_url(_drawn()))
    assert status == 200, page
    contract = site.contract()
    assert contract.status == "signed"
    assert validate_contract(signed_pdf(contract, site.files), signer.trust_roots()).ok


def _bomb(width: int, height: int) -> bytes:
    """A PNG header that claims width x height, followed by next to no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 2)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


REFUSED_SIGNATURES: dict[str, tuple[Callable[[], str], int, str]] = {
    "nothing drawn": (lambda: "", 400, "sign.blank"),
    "a transparent, empty pad": (
        lambda: _data_url(_png(Image.new("RGBA", (668, 400), (0, 0, 0, 0)))),
        400,
        "sign.blank",
    ),
    "all black": (lambda: _data_url(_png(Image.new("RGB", (668, 400)))), 400, "sign.too_heavy"),
    "a PNG that claims 100000 x 100000 pixels": (
        lambda: _data_url(_bomb(100_000, 100_000)),
        413,
        "sign.image_too_large",
    ),
    "a PNG that claims 10000 x 10000 pixels": (
        lambda: _data_url(_bomb(10_000, 10_000)),
        413,
        "sign.image_too_large",
    ),
    "a 4000 x 4000 signature": (
        lambda: _data_url(_drawn((4000, 4000), "white")),
        413,
        "sign.image_too_large",
    ),
    "more than the field allows": (
        lambda: "data:image/png;base64," + "A" * 1_500_000,
        413,
        "sign.image_too_large",
    ),
    "a JPEG": (lambda: "data:image/jpeg;base64,/9j/4AAQSkZJRg==", 400, "sign.image_invalid"),
    "bytes that are not a PNG": (
        lambda: "data:image/png;base64," + base64.b64encode(b"GIF89a....").decode(),
        400,
        "sign.image_invalid",
    ),
    "a truncated PNG": (lambda: _data_url(_drawn()[:300]), 400, "sign.image_invalid"),
    "broken base64": (lambda: "data:image/png;base64,iVBORw0KGgo=!!", 400, "sign.image_invalid"),
    "non-ASCII base64": (lambda: "data:image/png;base64,签名", 400, "sign.image_invalid"),
}


@pytest.mark.parametrize("case", REFUSED_SIGNATURES)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_refused_signatures_get_a_clear_message_in_the_pages_language(
    site: Site, case: str, lang: Lang
) -> None:
    make, status, key = REFUSED_SIGNATURES[case]
    token = site.new_link()
    site.verify(token)
    got, page = _draw(site, token, make(), lang)
    assert got == status
    assert _error(page) == PAGE[lang][key].format(
        width=MAX_SIGNATURE_WIDTH, height=MAX_SIGNATURE_HEIGHT
    )
    assert 'id="pad"' in page  # the candidate can sign again on the same page
    assert site.contract().status == "sent"


def _error(page: str) -> str:
    found = re.search(r'<p class="error" id="notice">(.*?)</p>', page)
    assert found, page
    return html.unescape(found.group(1))


async def test_a_huge_signature_does_not_stall_the_server(
    tmp_path: Path, signer: PyHankoSigner
) -> None:
    """WeChat wants every callback answered within 5 s; a signature must not hold the loop."""
    engine = memory_engine()
    clock = FakeClock(START)
    chat = ChatCodes()
    files = contract_files(tmp_path)

    async def healthz(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = signing_routes(transaction_factory(engine), chat, signer, files=files, clock=clock)
    app = Starlette(routes=[Route("/healthz", healthz), *routes])
    with Session(engine) as s:
        contract = create_contract(s, candidate_id=7, terms=good_terms(), clock=clock, files=files)
        token = issue_signing_link(s, contract, clock=clock).token
        s.commit()
    huge = _data_url(_drawn((4000, 4000), "white"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        await client.post(f"/sign/{token}/code/send")
        assert (await client.post(f"/sign/{token}/code", data={"code": chat.last})).is_redirect
        signing = asyncio.create_task(
            client.post(
                f"/sign/{token}/sign",
                data={"mode": "draw", "signature_png": huge, "confirm": "yes"},
            )
        )
        slowest = 0.0  # the longest round of "ask /healthz, then pause 5 ms"
        while not signing.done():
            started = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            await asyncio.sleep(0.005)  # a blocked loop shows here too, between requests
            slowest = max(slowest, time.perf_counter() - started)
        refused = await signing
    assert slowest < 0.5
    assert refused.status_code == 413


# --- wrong codes in parallel, on the real database --------------------------------------


def test_twenty_parallel_wrong_codes_count_one_by_one(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    """On SQLite, and on PostgreSQL when TEST_DATABASE_URL is set (tests/conftest.py):
    every wrong code counts, each tries-left figure is shown once, and the link locks."""
    chat = ChatCodes()
    files = contract_files(tmp_path / "files")
    token = seed_signing_link(app, clock, files)
    routes = signing_routes(app.db.transaction, chat, DownSigner(), files=files, clock=clock)
    with TestClient(Starlette(routes=routes), base_url=BASE) as client:
        client.post(f"/sign/{token}/code/send")
        wrong = f"{(int(chat.last) + 1) % 1_000_000:06d}"

        def attempt(_: int) -> tuple[int, str]:
            response = client.post(f"/sign/{token}/code", data={"code": wrong})
            left = re.search(r"还可以尝试 (\d) 次", response.text)
            return response.status_code, left.group(1) if left else ""

        with ThreadPoolExecutor(20) as pool:
            outcomes = sorted(pool.map(attempt, range(20)))

        assert outcomes == [(400, "1"), (400, "2"), (400, "3"), (400, "4")] + [(423, "")] * 16
        right = client.post(f"/sign/{token}/code", data={"code": chat.last})
        assert right.status_code == 423
        assert COOKIE not in client.cookies
    with app.db.session() as s:
        link = s.exec(select(SigningLink)).one()
        assert (link.wrong_tries, link.locked, link.session_hash) == (5, True, None)
