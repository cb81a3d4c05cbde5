"""``keys rotate``: everything re-encrypted under a new key while readers keep working."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from sqlalchemy import Text, select, type_coerce, update
from sqlalchemy.exc import StatementError
from sqlmodel import col
from sqlmodel import select as sm_select

import main
from app.wiring import App, build_app
from core.errors import ConfigError, CryptoError
from core.settings import Settings
from storage import rotate
from storage.crypto import Keyring, field_binding, load_keyring
from storage.db import open_database
from storage.models import Answer, Candidate
from tests.conftest import TELEGRAM_ON, make_settings
from tests.harness import Chat, RecordingMessenger

PHONE = "13912345678"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Telegram on: an invitation's reply carries a QR code file."""
    return make_settings(tmp_path, db_url, **TELEGRAM_ON)


def populate(chat: Chat) -> None:
    chat.create_job()
    chat.send("hr", f"/invite sales Zhang Wei {PHONE}")
    token, code = chat.invite("Li Lei")
    chat.start_interview("lilei", "Li Lei", token, code)
    chat.send("lilei", "A text answer about renewing a contract")
    chat.media("lilei", b"OggS voice bytes of li lei", duration=5)


def only_key(counts: dict[str, dict[str, int]]) -> set[str]:
    return {kid for part in counts.values() for kid in part}


def raw_name(app: App) -> tuple[str, bytes]:
    """The first candidate's stored name and what it is bound to."""
    table = Candidate.__table__  # type: ignore[attr-defined]
    with app.db.engine.connect() as conn:
        row_id, value = conn.execute(
            select(table.c.id, type_coerce(table.c.name, Text)).order_by(table.c.id).limit(1)
        ).one()
    return str(value), field_binding("candidate", "name", row_id)


def readable(app: App) -> tuple[list[str], list[str | None]]:
    with app.db.session() as session:
        names = [
            c.name for c in session.exec(sm_select(Candidate).order_by(col(Candidate.id))).all()
        ]
        texts = [a.text for a in session.exec(sm_select(Answer).order_by(col(Answer.id))).all()]
    return names, texts


def test_key_file_rotation_reencrypts_fields_and_files(
    app: App, chat: Chat, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(chat)
    monkeypatch.setattr(Keyring, "RELOAD_SECONDS", 0.0)
    old = app.db.keyring.primary
    before = rotate.census(app.db)
    assert only_key(before) == {old}
    assert before["files"][old] >= 2  # the voice note and the invitation QR code
    names, texts = readable(app)
    # Another process that loaded the key file before the rotation.
    running = load_keyring(settings.security.key_file, None)

    report = rotate.rotate(settings, grace_seconds=0, batch_size=2)

    assert report.mode == "key_file" and report.primary != old
    assert report.dropped == [old]
    assert report.fields >= 10 and report.files == before["files"][old]
    after = rotate.census(app.db)
    assert only_key(after) == {report.primary}
    assert sum(after["fields"].values()) == sum(before["fields"].values())
    on_disk = load_keyring(settings.security.key_file, None)
    assert list(on_disk.keys) == [report.primary]
    # The running process reads the new ciphertexts (it follows the key file) ...
    assert running.decrypt_text(*raw_name(app)) in names
    # ... and encrypts with the new key from now on.
    assert running.key_id_of(running.encrypt_text("x")) == report.primary
    # The app that was running all along still reads everything.
    assert readable(app) == (names, texts)
    # The old key alone opens nothing any more.
    alone = Keyring(keys={old: app.db.keyring.keys[old]}, primary=old, index_key=b"x" * 32)
    with pytest.raises(CryptoError):
        alone.decrypt_text(*raw_name(app))
    # Lookup hashes survive (the index key is not rotated in key file mode).
    with app.db.session() as session:
        with pytest.raises(StatementError, match="without its row binding"):
            # encrypted column: no equality on ciphertext
            session.exec(sm_select(Candidate).where(Candidate.phone == PHONE)).first()
        by_hash = session.exec(
            sm_select(Candidate).where(Candidate.phone_hash == on_disk.blind_index(PHONE))
        ).one()
    assert by_hash.name == "Zhang Wei"


def test_interrupted_rotation_can_be_run_again(app: App, chat: Chat, settings: Settings) -> None:
    populate(chat)
    old = app.db.keyring.primary
    seen: list[tuple[str, int]] = []

    def crash_after_first_batch(label: str, changed: int) -> None:
        seen.append((label, changed))
        if sum(n for _label, n in seen) > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate.rotate(settings, grace_seconds=0, batch_size=1, progress=crash_after_first_batch)
    ring = load_keyring(settings.security.key_file, None)
    assert old in ring.keys and ring.primary != old  # both keys kept
    mixed = rotate.census(app.db)
    assert only_key(mixed) == {old, ring.primary}
    names, _texts = readable(app)  # readers keep working in the middle
    assert sorted(names) == ["Li Lei", "Zhang Wei"]

    report = rotate.rotate(settings, grace_seconds=0)
    assert report.resumed and report.primary == ring.primary
    assert only_key(rotate.census(app.db)) == {ring.primary}
    assert list(load_keyring(settings.security.key_file, None).keys) == [ring.primary]
    # A second run is a fresh rotation to yet another key, and still idempotent on data.
    again = rotate.rotate(settings, grace_seconds=0)
    assert again.primary not in (old, ring.primary) and not again.resumed


def test_rotation_binds_fields_an_old_process_wrote_unbound(
    app: App, chat: Chat, settings: Settings
) -> None:
    populate(chat)
    table = Candidate.__table__  # type: ignore[attr-defined]
    with app.db.engine.begin() as conn:
        # What code from before binding writes: an e1 token, no associated data.
        conn.execute(
            update(table)
            .where(table.c.name.is_not(None))
            .values(address=type_coerce(app.db.keyring.encrypt_text("1 Old Street"), Text))
        )
    assert rotate.census(app.db)["fields"][rotate.UNBOUND] == 2

    rotate.rotate(settings, grace_seconds=0)

    assert rotate.UNBOUND not in rotate.census(app.db)["fields"]
    with app.db.engine.connect() as conn:
        stored = conn.execute(select(type_coerce(table.c.address, Text))).scalars().all()
    assert [t[:3] for t in stored] == ["e2:", "e2:"]
    with app.db.session() as session:
        people = session.exec(sm_select(Candidate)).all()
    assert [p.address for p in people] == ["1 Old Street", "1 Old Street"]


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_data_key_mode_explains_the_procedure(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, security={"data_key": _key()})
    with pytest.raises(ConfigError, match="DATA_KEY_OLD"):
        rotate.rotate(settings)


def test_data_key_mode_rotates_with_the_old_key_beside(tmp_path: Path) -> None:
    k1, k2 = _key(), _key()
    first = make_settings(tmp_path, security={"data_key": k1})
    app = build_app(first)
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    chat = Chat(app, messenger)
    chat.languages.update({"admin": "en", "hr": "en"})
    populate(chat)
    names, texts = readable(app)
    app.db.engine.dispose()

    both = make_settings(tmp_path, security={"data_key": k2, "data_key_old": k1})
    report = rotate.rotate(both)
    assert report.mode == "env" and report.fields > 0 and report.files > 0
    assert report.hashes >= 1  # the index key derives from DATA_KEY

    only_new = make_settings(tmp_path, security={"data_key": k2})
    db = open_database(only_new)
    assert only_key(rotate.census(db)) == {db.keyring.primary}
    with db.session() as session:
        assert sorted(c.name for c in session.exec(sm_select(Candidate)).all()) == sorted(names)
        assert [a.text for a in session.exec(sm_select(Answer)).all()] == texts
        found = session.exec(
            sm_select(Candidate).where(Candidate.phone_hash == db.keyring.blind_index(PHONE))
        ).one()
        assert found.name == "Zhang Wei"
    for rel in rotate.media_files(db):
        db.media.get(rel)  # every file opens with the new key alone
    db.engine.dispose()


def _config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[app]\ndata_dir = "{data}"\n'
        f'[database]\nurl = "sqlite:///{data / "test.sqlite3"}"\n'
        f'[security]\nkey_file = "{data / "keys" / "data.key"}"\n',
        encoding="utf-8",
    )
    return cfg


def test_cli_status_rotate_and_generate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATA_KEY", raising=False)
    monkeypatch.delenv("DATA_KEY_OLD", raising=False)
    cfg = _config(tmp_path)
    app = build_app(make_settings(tmp_path))
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    chat = Chat(app, messenger)
    chat.languages.update({"admin": "en", "hr": "en"})
    populate(chat)
    old = app.db.keyring.primary
    app.db.engine.dispose()

    assert main.main(["--config", str(cfg), "keys", "status"]) == 0
    assert f"primary {old}" in capsys.readouterr().out
    assert main.main(["--config", str(cfg), "keys", "rotate", "--grace", "0"]) == 0
    out = capsys.readouterr().out
    assert f"old key(s) {old} dropped" in out
    assert main.main(["--config", str(cfg), "keys", "status"]) == 0
    status = capsys.readouterr().out
    assert old not in status
    assert main.main(["--config", str(cfg), "keys", "generate"]) == 0
    assert len(base64.b64decode(capsys.readouterr().out.strip())) == 32

    monkeypatch.setenv("DATA_KEY", _key())
    assert main.main(["--config", str(cfg), "keys", "rotate"]) == 1
    assert "DATA_KEY_OLD" in capsys.readouterr().out
