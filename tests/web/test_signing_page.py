"""The signing page over HTTP (Starlette's test client): codes, lockout, links, headers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from contracts.files import ContractFiles
from contracts.service import create_contract, issue_signing_link, signed_pdf
from contracts.signing import (
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
from storage.contract_models import Contract, Employee
from tests.contracts.support import (
    contract_files,
    good_terms,
    memory_engine,
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
