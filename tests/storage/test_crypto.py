from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlmodel import col, select

from app.wiring import App
from core.errors import ConfigError, CryptoError
from storage.crypto import Keyring, load_keyring
from storage.media import MediaStore
from storage.models import Answer, Candidate
from tests.harness import Chat


def test_text_round_trip_and_tamper_detection() -> None:
    ring = Keyring.generate()
    token = ring.encrypt_text("张三 110101199003071234")
    assert "张三" not in token and ring.decrypt_text(token) == "张三 110101199003071234"
    broken = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(CryptoError):
        ring.decrypt_text(broken)


def test_old_ciphertexts_stay_readable_after_a_new_primary_key() -> None:
    old = Keyring.generate()
    token = old.encrypt_text("secret")
    new_key = os.urandom(32)
    both = Keyring(
        keys={**old.keys, "newkey01": new_key}, primary="newkey01", index_key=old.index_key
    )
    assert both.decrypt_text(token) == "secret"
    assert both.key_id_of(both.encrypt_text("x")) == "newkey01"
    assert both.blind_index("13812345678") == old.blind_index("138 1234 5678")


def test_key_file_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "data.key"
    ring = load_keyring(path, None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(path, None).primary == ring.primary
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_keyring(path, None)
    with pytest.raises(ConfigError, match="DATA_KEY"):
        load_keyring(path, "not-base64!")


def test_media_is_encrypted_on_disk(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, Keyring.generate())
    rel, digest = store.put(b"RIFF....spoken words", ".wav")
    raw = (tmp_path / rel).read_bytes()
    assert b"spoken words" not in raw
    assert store.get(rel) == b"RIFF....spoken words"
    assert len(digest) == 64
    with pytest.raises(Exception, match="escapes"):
        store.get("../../etc/passwd")


def test_raw_database_and_media_hold_no_plaintext_personal_data(app: App, chat: Chat) -> None:
    if not app.db.is_sqlite:
        pytest.skip("reads the SQLite file")
    chat.create_job()
    chat.send("hr", "/invite sales Zhang Wei 13912345678")
    with app.db.transaction() as session:
        cand = session.exec(select(Candidate)).one()
        cand.id_number = "110101199003071234"
        session.add(cand)
    token, code = chat.invite("Li Lei")
    chat.start_interview("lilei", "Li Lei", token, code)
    chat.send("lilei", "Transcript-like answer about renewing a contract worth 1.2M")
    chat.media("lilei", b"OggS voice bytes of li lei", duration=5)
    app.db.engine.dispose()
    raw = b""
    for path in app.settings.app.data_dir.rglob("*"):
        if path.is_file() and "keys" not in path.parts:
            raw += path.read_bytes()
    for secret in (
        "13912345678",
        "110101199003071234",
        "Zhang Wei",
        "Li Lei",
        "renewing a contract",
        "voice bytes of li lei",
    ):
        assert secret.encode() not in raw, secret
    with app.db.session() as session:
        answer = session.exec(
            select(Answer).where(Answer.kind == "text", col(Answer.practice).is_(False))
        ).one()
    assert (answer.text or "").startswith("Transcript")
