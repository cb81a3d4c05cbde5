"""The contract lifecycle on an in-memory database: links, codes, sealing, declining."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from contracts.files import ContractFiles
from contracts.service import (
    MAX_WRONG_TRIES,
    CodeError,
    IssuedLink,
    LinkError,
    LinkProblem,
    audit_trail,
    complete_signing,
    create_contract,
    decline,
    expiring_contracts,
    findings_of,
    issue_signing_link,
    lookup_employee,
    new_code,
    open_link,
    reminder_date,
    session_matches,
    signed_pdf,
    tries_left,
    unsigned_pdf,
    update_terms,
    verify_code,
)
from contracts.signing import (
    PyHankoSigner,
    SealedContract,
    SealRequest,
    SignatureMark,
    build_signer,
    sha256_hex,
    validate_contract,
)
from core.clock import FakeClock
from core.errors import ContractError, SigningError
from core.settings import ContractSettings
from storage.contract_models import Contract, Employee, SigningLink
from storage.crypto import Keyring
from tests.contracts.support import blocked_terms, contract_files, good_terms, memory_engine

START = dt.datetime(2026, 2, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine() -> Engine:
    return memory_engine()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> PyHankoSigner:
    return build_signer(ContractSettings(), tmp_path_factory.mktemp("data"))


def _sent(engine: Engine, clock: FakeClock, files: Path) -> tuple[int, IssuedLink]:
    with Session(engine) as s:
        contract = create_contract(
            s, candidate_id=7, terms=good_terms(), clock=clock, files=contract_files(files)
        )
        issued = issue_signing_link(s, contract, clock=clock)
        s.commit()
        assert contract.id is not None
        return contract.id, issued


def _verified(engine: Engine, clock: FakeClock, files: Path) -> tuple[int, IssuedLink, str]:
    contract_id, issued = _sent(engine, clock, files)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        code = new_code(s, link, contract, clock=clock)
        secret = verify_code(
            s, link, contract, code, clock=clock, ip="198.51.100.2", user_agent="UA"
        )
        s.commit()
    assert secret is not None
    return contract_id, issued, secret


def test_blocked_terms_are_kept_with_findings_and_cannot_be_sent(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    with Session(engine) as s:
        contract = create_contract(
            s, candidate_id=1, terms=blocked_terms(), clock=clock, files=contract_files(tmp_path)
        )
        assert contract.status == "blocked"
        assert contract.unsigned_pdf_path is None
        rules = {f.rule for f in findings_of(contract) if f.severity == "block"}
        assert {"minimum_wage", "probation_length"} <= rules
        with pytest.raises(ContractError, match="blocked"):
            issue_signing_link(s, contract, clock=clock)
        update_terms(s, contract, good_terms(), clock=clock, files=contract_files(tmp_path))
        assert contract.status == "draft"
        assert contract.unsigned_pdf_path is not None
        assert Path(contract.unsigned_pdf_path).stat().st_mode & 0o777 == 0o600
        s.commit()


def test_terms_and_reasons_are_encrypted_at_rest(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    _sent(engine, clock, tmp_path)
    with engine.connect() as conn:
        raw = conn.execute(text("select terms_json from contract")).scalar_one()
    assert "11010519491231002X" not in raw
    assert "张三" not in raw
    with engine.connect() as conn:
        hashes = conn.execute(text("select token_hash from contract_signing_link")).scalars().all()
    assert all(len(h) == 64 for h in hashes)


def test_links_are_unguessable_and_tamper_evident(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    _, issued = _sent(engine, clock, tmp_path)
    assert len(issued.token) >= 40
    assert issued.url("https://hr.example.com/").startswith("https://hr.example.com/sign/")
    tampered = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    with Session(engine) as s:
        open_link(s, issued.token, clock=clock)
        for bad in (tampered, "", "x" * 500):
            with pytest.raises(LinkError) as err:
                open_link(s, bad, clock=clock)
            assert err.value.problem is LinkProblem.UNKNOWN


def test_links_expire(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    _, issued = _sent(engine, clock, tmp_path)
    clock.advance(hours=72, seconds=-1)
    with Session(engine) as s:
        open_link(s, issued.token, clock=clock)
        clock.advance(seconds=1)
        with pytest.raises(LinkError) as err:
            open_link(s, issued.token, clock=clock)
        assert err.value.problem is LinkProblem.EXPIRED


def test_a_new_link_revokes_the_old_one(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    contract_id, first = _sent(engine, clock, tmp_path)
    with Session(engine) as s:
        contract = s.get(Contract, contract_id)
        assert contract is not None
        second = issue_signing_link(s, contract, clock=clock)
        s.commit()
        with pytest.raises(LinkError) as err:
            open_link(s, first.token, clock=clock)
        assert err.value.problem is LinkProblem.REVOKED
        open_link(s, second.token, clock=clock)


def test_codes_are_rate_limited(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    _, issued = _sent(engine, clock, tmp_path)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        codes = {new_code(s, link, contract, clock=clock)}
        with pytest.raises(CodeError) as err:
            new_code(s, link, contract, clock=clock)
        assert err.value.reason == "wait"
        assert 0 < err.value.wait_seconds <= 60
        for _ in range(4):
            clock.advance(seconds=60)
            codes.add(new_code(s, link, contract, clock=clock))
        clock.advance(seconds=60)
        with pytest.raises(CodeError) as err:
            new_code(s, link, contract, clock=clock)
        assert err.value.reason == "limit"
        assert all(len(c) == 6 and c.isdigit() for c in codes)


def test_five_wrong_codes_lock_the_link(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    _, issued = _sent(engine, clock, tmp_path)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        code = new_code(s, link, contract, clock=clock)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for attempt in range(1, MAX_WRONG_TRIES):
            assert verify_code(s, link, contract, wrong, clock=clock) is None
            assert tries_left(link) == MAX_WRONG_TRIES - attempt
        assert verify_code(s, link, contract, wrong, clock=clock) is None
        assert link.locked
        with pytest.raises(LinkError):
            verify_code(s, link, contract, code, clock=clock)
        s.commit()
        with pytest.raises(LinkError) as err:
            open_link(s, issued.token, clock=clock)
        assert err.value.problem is LinkProblem.LOCKED
        kinds = [e.kind for e in audit_trail(s, contract)]
        assert kinds.count("code_failed") == 5
        assert kinds[-1] == "locked"


def test_codes_expire_and_work_once(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    _, issued = _sent(engine, clock, tmp_path)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        code = new_code(s, link, contract, clock=clock)
        clock.advance(minutes=10)
        with pytest.raises(CodeError, match="expired"):
            verify_code(s, link, contract, code, clock=clock)
        code = new_code(s, link, contract, clock=clock)
        secret = verify_code(s, link, contract, f" {code[:3]} {code[3:]} ", clock=clock)
        assert session_matches(link, secret)
        assert not session_matches(link, "someone-else")
        with pytest.raises(CodeError):
            verify_code(s, link, contract, code, clock=clock)
        assert link.wrong_tries == 0


def test_signing_seals_and_creates_the_employee(
    engine: Engine, clock: FakeClock, tmp_path: Path, signer: PyHankoSigner
) -> None:
    contract_id, issued, secret = _verified(engine, clock, tmp_path)
    clock.advance(minutes=2)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        with pytest.raises(LinkError):
            complete_signing(
                s,
                link,
                contract,
                browser_secret="wrong",
                mark=SignatureMark(typed_name="张三"),
                signer=signer,
                clock=clock,
                files=contract_files(tmp_path),
            )
        complete_signing(
            s, link, contract, browser_secret=secret, mark=SignatureMark(typed_name="张三"),
            signer=signer, clock=clock, files=contract_files(tmp_path), ip="198.51.100.2", user_agent="UA",
        )  # fmt: skip
        s.commit()
    with Session(engine) as s:
        row = s.get(Contract, contract_id)
        assert row is not None
        assert row.status == "signed"
        pdf = signed_pdf(row, contract_files(tmp_path))
        assert validate_contract(pdf, signer.trust_roots()).ok
        kinds = [e.kind for e in audit_trail(s, row)]
        assert kinds == [
            "created",
            "sent",
            "code_sent",
            "verified",
            "confirmed",
            "employer_certified",
            "employee_signed",
            "sealed",
        ]
        with pytest.raises(LinkError) as err:
            open_link(s, issued.token, clock=clock)
        assert err.value.problem is LinkProblem.USED
        employee = s.exec(select(Employee)).one()
        assert (employee.start_date, employee.end_date) == (
            dt.date(2026, 3, 2),
            dt.date(2029, 3, 1),
        )
        assert employee.archive_until == dt.date(2031, 3, 1)
        assert reminder_date(employee) == dt.date(2029, 1, 30)
        assert [r.contract.contract_no for r in lookup_employee(s, 7)] == [row.contract_no]
        assert len(lookup_employee(s, "张")) == 1
        assert len(lookup_employee(s, row.contract_no)) == 1
        assert lookup_employee(s, "李") == []
        assert lookup_employee(s, 8) == []
        assert len(expiring_contracts(s, today=dt.date(2029, 2, 1), within_days=30)) == 1
        assert expiring_contracts(s, today=dt.date(2029, 1, 1), within_days=30) == []


class FailingSigner:
    """A backend whose timestamp server is down: sealing fails closed."""

    def seal(self, unsigned_pdf: bytes, request: SealRequest) -> SealedContract:
        raise SigningError("timestamp server unreachable")

    def trust_roots(self) -> list[x509.Certificate]:
        return []


def test_a_failed_seal_changes_nothing(
    engine: Engine, clock: FakeClock, tmp_path: Path, signer: PyHankoSigner
) -> None:
    contract_id, issued, secret = _verified(engine, clock, tmp_path)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        with pytest.raises(SigningError):
            complete_signing(
                s,
                link,
                contract,
                browser_secret=secret,
                mark=SignatureMark(typed_name="张三"),
                signer=FailingSigner(),
                clock=clock,
                files=contract_files(tmp_path),
            )
        s.rollback()
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)  # still usable
        assert contract.status == "sent"
        assert s.exec(select(Employee)).all() == []
        complete_signing(
            s,
            link,
            contract,
            browser_secret=secret,
            mark=SignatureMark(typed_name="张三"),
            signer=signer,
            clock=clock,
            files=contract_files(tmp_path),
        )
        s.commit()


def test_a_tampered_stored_pdf_is_not_signed(
    engine: Engine, clock: FakeClock, tmp_path: Path, signer: PyHankoSigner
) -> None:
    _, issued, secret = _verified(engine, clock, tmp_path)
    files = contract_files(tmp_path)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        assert contract.unsigned_pdf_path is not None
        plain = unsigned_pdf(contract, files)

        def sign() -> None:
            complete_signing(
                s, link, contract, browser_secret=secret, mark=SignatureMark(typed_name="张三"),
                signer=signer, clock=clock, files=files,
            )  # fmt: skip

        # One flipped bit of the ciphertext: authentication fails.
        path = Path(contract.unsigned_pdf_path)
        blob = bytearray(path.read_bytes())
        blob[-1] ^= 1
        path.write_bytes(bytes(blob))
        with pytest.raises(SigningError, match="unreadable"):
            sign()
        # Another document, properly encrypted: the recorded SHA-256 catches it.
        files.write(contract.contract_no, "contract.pdf", plain.replace(b"/Title", b"/Titlf", 1))
        with pytest.raises(SigningError, match="changed"):
            sign()
        # A file copied from another contract's folder does not decrypt there.
        other = tmp_path / "HT-OTHER" / "contract.pdf.enc"
        other.parent.mkdir()
        files.write("HT-OTHER", "contract.pdf", plain)
        path.write_bytes(other.read_bytes())
        with pytest.raises(SigningError, match="unreadable"):
            sign()
        assert s.exec(select(Employee)).all() == []


def _signed(engine: Engine, clock: FakeClock, tmp_path: Path, signer: PyHankoSigner) -> int:
    contract_id, issued, secret = _verified(engine, clock, tmp_path)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        complete_signing(
            s, link, contract, browser_secret=secret, mark=SignatureMark(typed_name="张三"),
            signer=signer, clock=clock, files=contract_files(tmp_path),
        )  # fmt: skip
        s.commit()
    return contract_id


def pdf_text(data: bytes) -> str:
    """What a PDF reader shows of ``data`` ("" when it is not a PDF)."""
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=False)
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else ""


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils missing")
def test_contract_pdfs_are_encrypted_at_rest_and_read_back_in_memory(
    engine: Engine, clock: FakeClock, tmp_path: Path, signer: PyHankoSigner
) -> None:
    contract_id = _signed(engine, clock, tmp_path, signer)
    files = contract_files(tmp_path)
    with Session(engine) as s:
        row = s.get(Contract, contract_id)
        assert row is not None and row.unsigned_pdf_path and row.signed_pdf_path
    unsigned, signed = unsigned_pdf(row, files), signed_pdf(row, files)
    # What the database records is the plaintext's hash: the signatures are over it.
    assert (sha256_hex(unsigned), sha256_hex(signed)) == (row.unsigned_sha256, row.signed_sha256)
    assert validate_contract(signed, signer.trust_roots()).ok
    folder = tmp_path / row.contract_no
    assert folder.stat().st_mode & 0o777 == 0o700
    for recorded, plain in ((row.unsigned_pdf_path, unsigned), (row.signed_pdf_path, signed)):
        path = Path(recorded)
        assert path.parent == folder and path.name.endswith(".pdf.enc")
        assert path.stat().st_mode & 0o777 == 0o600
        on_disk = path.read_bytes()
        assert plain.startswith(b"%PDF") and b"%PDF" not in on_disk
        for needle in ("张三", "11010519491231002X"):
            assert needle in pdf_text(plain)  # the test can see a leak ...
            assert needle not in pdf_text(on_disk)  # ... and there is none
            assert needle.encode() not in on_disk
    # The signer's certificate names the employee inside the signed PDF (hex).
    name_in_cert = "张三".encode().hex().upper().encode()
    assert name_in_cert in signed
    assert name_in_cert not in Path(row.signed_pdf_path).read_bytes()
    # Nothing else in the folder is plaintext, and the file needs the key.
    assert sorted(p.name for p in folder.iterdir()) == ["contract.pdf.enc", "signed.pdf.enc"]
    with pytest.raises(ContractError, match="unreadable"):
        signed_pdf(row, ContractFiles(tmp_path, Keyring.generate()))


def test_a_contract_stored_before_encryption_is_still_signed(
    engine: Engine, clock: FakeClock, tmp_path: Path, signer: PyHankoSigner
) -> None:
    contract_id, issued, secret = _verified(engine, clock, tmp_path)
    files = contract_files(tmp_path)
    with Session(engine) as s:
        row = s.get(Contract, contract_id)
        assert row is not None and row.unsigned_pdf_path
        plain = unsigned_pdf(row, files)
        Path(row.unsigned_pdf_path).unlink()
        legacy = tmp_path / row.contract_no / "contract.pdf"  # as the old code wrote it
        legacy.write_bytes(plain)
        row.unsigned_pdf_path = str(legacy)
        s.add(row)
        s.commit()
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        assert unsigned_pdf(contract, files) == plain
        complete_signing(
            s, link, contract, browser_secret=secret, mark=SignatureMark(typed_name="张三"),
            signer=signer, clock=clock, files=files,
        )  # fmt: skip
        s.commit()
    with Session(engine) as s:
        row = s.get(Contract, contract_id)
        assert row is not None and (row.signed_pdf_path or "").endswith("signed.pdf.enc")
        assert validate_contract(signed_pdf(row, files), signer.trust_roots()).ok


def test_decline_needs_a_reason(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    contract_id, issued, secret = _verified(engine, clock, tmp_path)
    with Session(engine) as s:
        link, contract = open_link(s, issued.token, clock=clock)
        with pytest.raises(ContractError, match="reason"):
            decline(s, link, contract, "   ", browser_secret=secret, clock=clock)
        decline(s, link, contract, "薪资与面试时沟通的不一致", browser_secret=secret, clock=clock)
        s.commit()
    with Session(engine) as s:
        row = s.get(Contract, contract_id)
        assert row is not None
        assert row.status == "declined"
        assert row.decline_reason == "薪资与面试时沟通的不一致"
        assert s.exec(select(SigningLink)).one().used_at is not None
    with engine.connect() as conn:
        raw = conn.execute(text("select decline_reason from contract")).scalar_one()
    assert "薪资" not in raw
