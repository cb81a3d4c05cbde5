"""Sealing with pyHanko: validates offline, tampering is detected, TSA failures fail closed."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from PIL import Image, ImageDraw
from pydantic import SecretStr
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from contracts.pki import KeyPair, LocalCA, issue_event_certificate
from contracts.render import RenderedContract, render_contract
from contracts.signing import (
    AuditEvent,
    PyHankoSigner,
    SealedContract,
    SealRequest,
    SignatureMark,
    build_signer,
    prepare_signature_image,
    validate_contract,
)
from contracts.terms import load_terms
from core.clock import FakeClock
from core.errors import ConfigError, SigningError
from core.settings import ContractSettings

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).parents[1] / "fixtures" / "contracts"
START = dt.datetime(2026, 2, 20, 2, 0, tzinfo=dt.UTC)


def drawn_png(blank: bool = False) -> bytes:
    image = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    if not blank:
        ImageDraw.Draw(image).line(
            [(20, 150), (200, 40), (380, 160), (560, 50)], fill=(0, 0, 0, 255), width=6
        )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def events() -> tuple[AuditEvent, ...]:
    ua = "Mozilla/5.0 (Linux; Android 14) Mobile Safari/537.36"
    return (
        AuditEvent(START, "sent", method="telegram"),
        AuditEvent(START, "opened", ip="203.0.113.7", user_agent=ua),
        AuditEvent(
            START, "verified", ip="203.0.113.7", user_agent=ua, method="code sent to the chat"
        ),
        AuditEvent(
            START, "confirmed", ip="203.0.113.7", user_agent=ua, detail="confirmation ticked"
        ),
    )


def request(mark: SignatureMark | None = None) -> SealRequest:
    return SealRequest(
        contract_no="HT-2026-0001",
        employer_name="示例科技（上海）有限公司",
        employee_name="张三",
        mark=mark or SignatureMark(image_png=drawn_png()),
        events=events(),
    )


@pytest.fixture(scope="module")
def rendered() -> RenderedContract:
    return render_contract(
        load_terms(FIXTURES / "terms_fixed_term.json"), contract_no="HT-2026-0001"
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def signer(data_dir: Path) -> PyHankoSigner:
    return build_signer(ContractSettings(), data_dir, clock=FakeClock(START))


@pytest.fixture(scope="module")
def sealed(signer: PyHankoSigner, rendered: RenderedContract) -> SealedContract:
    return signer.seal(rendered.pdf, request())


def test_sealed_contract_validates(
    sealed: SealedContract, signer: PyHankoSigner, rendered: RenderedContract
) -> None:
    report = validate_contract(sealed.pdf, signer.trust_roots())
    assert report.ok, report
    assert report.certified
    assert [s.field for s in report.signatures] == ["employer", "employee", "audit_seal"]
    assert all(s.trusted and s.intact and s.timestamped for s in report.signatures)
    assert report.signatures[0].docmdp_ok
    assert sealed.sha256_before == rendered.sha256
    assert len({sealed.sha256_before, sealed.sha256_after_employee, sealed.sha256_final}) == 3
    assert [e.kind for e in sealed.events][-3:] == [
        "employer_certified",
        "employee_signed",
        "sealed",
    ]


def test_untrusted_root_does_not_validate(sealed: SealedContract, tmp_path: Path) -> None:
    other = LocalCA.open(tmp_path / "other")
    assert not validate_contract(sealed.pdf, [other.root.cert]).ok


@pytest.mark.parametrize("where", [0.2, 0.5, 0.97])
def test_flipping_one_byte_breaks_validation(
    sealed: SealedContract, signer: PyHankoSigner, where: float
) -> None:
    data = bytearray(sealed.pdf)
    data[int(len(data) * where)] ^= 0x01
    assert not validate_contract(bytes(data), signer.trust_roots()).ok


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils missing")
def test_pdfsig_agrees(sealed: SealedContract, tmp_path: Path) -> None:
    good = tmp_path / "good.pdf"
    good.write_bytes(sealed.pdf)
    out = subprocess.run(["pdfsig", str(good)], capture_output=True, text=True).stdout
    assert out.count("Signature is Valid.") == 3
    assert "Total document signed" in out
    data = bytearray(sealed.pdf)
    data[len(data) // 3] ^= 0x01
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    out = subprocess.run(["pdfsig", str(bad)], capture_output=True, text=True).stdout
    assert "Signature is Valid." not in out
    assert "Digest Mismatch" in out


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils missing")
def test_audit_page_shows_hashes_and_events(sealed: SealedContract) -> None:
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=sealed.pdf, capture_output=True, check=True
    ).stdout.decode()
    flat = "".join(text.split())
    assert sealed.sha256_before in flat
    assert sealed.sha256_after_employee in flat
    assert "203.0.113.7" in flat
    assert "Android" in flat
    assert "codesenttothechat" in flat
    assert "localTSA" in flat  # the audit page says the timestamps are local
    assert "张三" in flat


def test_sealing_twice_is_refused(sealed: SealedContract, signer: PyHankoSigner) -> None:
    with pytest.raises(SigningError, match="already signed"):
        signer.seal(sealed.pdf, request())


def test_typed_signature(signer: PyHankoSigner, rendered: RenderedContract) -> None:
    result = signer.seal(rendered.pdf, request(SignatureMark(typed_name="张三")))
    assert validate_contract(result.pdf, signer.trust_roots()).ok


def test_keys_are_private_and_the_ca_is_reused(data_dir: Path, signer: PyHankoSigner) -> None:
    folder = data_dir / "contracts" / "ca"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    keys = sorted(folder.glob("*.key.pem"))
    assert {k.name.split(".")[0].split("-")[0] for k in keys} == {"root", "tsa", "employer"}
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = LocalCA.open(folder)
    assert again.root.cert.serial_number == signer.ca.root.cert.serial_number


def test_signature_images() -> None:
    image = prepare_signature_image(drawn_png())
    assert image.mode == "RGB"
    assert image.width < 600  # cropped to the ink
    with pytest.raises(SigningError, match="blank"):
        prepare_signature_image(drawn_png(blank=True))
    with pytest.raises(SigningError):
        prepare_signature_image(b"GIF89a not a png")
    with pytest.raises(SigningError):
        SignatureMark()
    with pytest.raises(SigningError):
        SignatureMark(typed_name="x", image_png=b"y")


# --- an RFC 3161 server on 127.0.0.1, and its failure ------------------------------


class _TsaHandler(http.server.BaseHTTPRequestHandler):
    stamper: DummyTimeStamper

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = self.stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tsa_server(tmp_path: Path) -> Iterator[tuple[str, LocalCA]]:
    ca = LocalCA.open(tmp_path / "tsa-ca")
    handler = type(
        "Handler",
        (_TsaHandler,),
        {
            "stamper": DummyTimeStamper(
                tsa_cert=asn1_x509.Certificate.load(ca.tsa.cert_der()),
                tsa_key=asn1_keys.PrivateKeyInfo.load(ca.tsa.key_der()),
            )
        },
    )
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa", ca
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_configured_tsa_is_used(
    tsa_server: tuple[str, LocalCA], tmp_path: Path, rendered: RenderedContract
) -> None:
    url, tsa_ca = tsa_server
    signer = build_signer(ContractSettings(tsa_url=url), tmp_path)
    result = signer.seal(rendered.pdf, request())
    assert url in result.timestamp_source
    assert validate_contract(result.pdf, [*signer.trust_roots(), tsa_ca.root.cert]).ok
    # the local TSA is not trusted as this server's root: the timestamps really came from it
    assert not validate_contract(result.pdf, signer.trust_roots()).ok


def test_failing_tsa_fails_closed(tmp_path: Path, rendered: RenderedContract) -> None:
    with http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]  # a port that is closed once this block ends
    signer = build_signer(ContractSettings(tsa_url=f"http://127.0.0.1:{port}/tsa"), tmp_path)
    with pytest.raises(SigningError):
        signer.seal(rendered.pdf, request())


class _GarbageHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"error": "maintenance"}).encode()
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_tsa_error_reply_fails_closed(tmp_path: Path, rendered: RenderedContract) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _GarbageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
        signer = build_signer(ContractSettings(tsa_url=url), tmp_path)
        with pytest.raises(SigningError):
            signer.seal(rendered.pdf, request())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- an operator's PKCS#12 ---------------------------------------------------------


def _operator_p12(tmp_path: Path, password: bytes) -> tuple[Path, KeyPair]:
    operator_ca = LocalCA.open(tmp_path / "operator-ca", name="Operator Test CA")
    seal = issue_event_certificate(operator_ca.root, "示例科技（上海）有限公司", "operator seal")
    blob = pkcs12.serialize_key_and_certificates(
        b"seal",
        seal.key,
        seal.cert,
        [operator_ca.root.cert],
        serialization.BestAvailableEncryption(password),
    )
    path = tmp_path / "seal.p12"
    path.write_bytes(blob)
    return path, operator_ca.root


def test_operator_pkcs12(tmp_path: Path, rendered: RenderedContract) -> None:
    path, operator_root = _operator_p12(tmp_path, b"s3cret-pass")
    settings = ContractSettings(p12_path=path, p12_password=SecretStr("s3cret-pass"))
    signer = build_signer(settings, tmp_path / "data")
    assert any(c.subject == operator_root.cert.subject for c in signer.trust_roots())
    result = signer.seal(rendered.pdf, request())
    report = validate_contract(result.pdf, signer.trust_roots())
    assert report.ok
    local_only = [signer.ca.root.cert]
    assert not validate_contract(result.pdf, local_only).ok  # the employer's seal is the operator's


def test_operator_pkcs12_wrong_password(tmp_path: Path) -> None:
    path, _ = _operator_p12(tmp_path, b"right-password")
    settings = ContractSettings(p12_path=path, p12_password=SecretStr("wrong-password"))
    with pytest.raises(ConfigError, match="PKCS#12"):
        build_signer(settings, tmp_path / "data")
