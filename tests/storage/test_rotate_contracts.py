"""``keys rotate`` and contract PDFs: re-encrypted under the new key, old plaintext encrypted."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from app.wiring import App
from contracts.files import ContractFiles
from contracts.service import create_contract, unsigned_pdf
from contracts.signing import build_signer, ca_folder
from core.errors import ContractError
from core.settings import Settings
from storage import rotate
from storage.contract_models import Contract
from storage.crypto import Keyring, load_keyring
from storage.models import Candidate
from tests.contracts.support import good_terms
from tests.harness import Chat


def contract_for(app: App, settings: Settings, candidate_id: int) -> Contract:
    files = ContractFiles.in_data_dir(settings.app.data_dir, app.db.keyring)
    with app.db.transaction() as session:
        return create_contract(
            session,
            candidate_id=candidate_id,
            terms=good_terms(),
            clock=app.services.clock,
            files=files,
        )


def make_legacy(app: App, contract: Contract, plain: bytes) -> Contract:
    """Turn a contract into one stored before encryption at rest: a plaintext PDF, a
    plaintext temporary file of a crashed write and a cached page image beside it."""
    assert contract.unsigned_pdf_path is not None
    encrypted = Path(contract.unsigned_pdf_path)
    folder = encrypted.parent
    legacy = folder / "contract.pdf"
    legacy.write_bytes(plain)
    encrypted.unlink()
    (folder / "signed.pdf.tmp").write_bytes(plain)
    (folder / "pages").mkdir()
    (folder / "pages" / "page-1.png").write_bytes(b"\x89PNG plaintext render")
    with app.db.transaction() as session:
        row = session.get(Contract, contract.id)
        assert row is not None
        row.unsigned_pdf_path = str(legacy)
        session.add(row)
    return row


def test_rotation_reencrypts_contract_pdfs_and_encrypts_old_plaintext_ones(
    app: App, chat: Chat, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Keyring, "RELOAD_SECONDS", 0.0)
    chat.create_job()
    chat.invite("Li Lei")
    chat.invite("Wang Fang")
    with app.db.session() as session:
        first, second = sorted(c.id or 0 for c in session.exec(select(Candidate)).all())
    old = app.db.keyring.primary
    current = contract_for(app, settings, first)
    legacy = contract_for(app, settings, second)
    files = ContractFiles.in_data_dir(settings.app.data_dir, app.db.keyring)
    plain = {c.id: unsigned_pdf(c, files) for c in (current, legacy)}
    legacy = make_legacy(app, legacy, plain[legacy.id])
    assert unsigned_pdf(legacy, files) == plain[legacy.id]  # read before the rotation too

    # The embedded signing CA lives in the same folder (contracts/ca) and is no contract file.
    build_signer(settings.contracts, settings.app.data_dir)
    ca = {p: p.read_bytes() for p in ca_folder(settings.app.data_dir).iterdir()}
    assert any(p.name.endswith(".key.pem") for p in ca)

    before = rotate.census(app.db)
    assert before["contract_files"] == {old: 1, rotate.PLAINTEXT: 3}

    report = rotate.rotate(settings, grace_seconds=0)

    new = report.primary
    assert report.dropped == [old]
    after = rotate.census(app.db)
    assert after["contract_files"] == {new: 2}
    assert report.files >= 2  # + the invitation QR codes of the media store
    root = settings.app.data_dir / "contracts"
    assert {p: p.read_bytes() for p in ca_folder(settings.app.data_dir).iterdir()} == ca
    left = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p not in ca
    )
    assert left == sorted(
        f"{c.contract_no}/contract.pdf.enc" for c in (current, legacy)
    )  # the plaintext, its temporary copy and the page image are gone, so is pages/
    assert not any((root / c.contract_no / "pages").exists() for c in (current, legacy))
    assert all(b"%PDF" not in (root / rel).read_bytes() for rel in left)

    ring = load_keyring(settings.security.key_file, None)
    assert list(ring.keys) == [new]
    with app.db.session() as session:
        rows = {c.id: c for c in session.exec(select(Contract)).all()}
    moved = rows[legacy.id]
    assert moved.unsigned_pdf_path == str(root / legacy.contract_no / "contract.pdf.enc")
    assert moved.unsigned_sha256 == legacy.unsigned_sha256  # still the plaintext's hash
    for contract_id, row in rows.items():
        assert unsigned_pdf(row, ContractFiles(root, ring)) == plain[contract_id]
    # A reader that loaded the legacy row before the rotation still finds the file.
    assert unsigned_pdf(legacy, ContractFiles(root, ring)) == plain[legacy.id]
    # The old key alone opens none of them any more.
    alone = Keyring(keys={old: app.db.keyring.keys[old]}, primary=old, index_key=b"x" * 32)
    for row in rows.values():
        with pytest.raises(ContractError):
            unsigned_pdf(row, ContractFiles(root, alone))
    # Nothing is left to do: a status check says so.
    assert rotate.census(app.db)["contract_files"] == {new: 2}


def test_a_plaintext_pdf_no_contract_points_at_is_deleted(
    app: App, chat: Chat, settings: Settings
) -> None:
    chat.create_job()
    chat.invite("Li Lei")
    with app.db.session() as session:
        cid = session.exec(select(Candidate.id)).one() or 0
    contract = contract_for(app, settings, cid)
    files = ContractFiles.in_data_dir(settings.app.data_dir, app.db.keyring)
    stale = files.root / contract.contract_no / "signed.pdf"  # e.g. from a failed commit
    stale.write_bytes(unsigned_pdf(contract, files))
    assert rotate.census(app.db)["contract_files"][rotate.PLAINTEXT] == 1
    ring = app.db.keyring
    assert rotate.encrypt_plaintext_contract_files(app.db, ring) == 0
    assert not stale.exists()
    assert rotate.PLAINTEXT not in rotate.census(app.db)["contract_files"]
    with app.db.session() as session:
        row = session.get(Contract, contract.id)
    assert row is not None and row.signed_pdf_path is None
