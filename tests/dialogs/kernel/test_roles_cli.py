"""``python main.py roles list|grant|revoke`` for operators, through ``main.main``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from app.wiring import build_app
from main import main
from storage.models import AuditEvent, Staff
from tests.conftest import make_settings
from tests.harness import Chat, RecordingMessenger


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A data folder with job "sales" (made through the chat) and its config file."""
    app = build_app(make_settings(tmp_path))
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    Chat(app, messenger).create_job()
    app.db.engine.dispose()
    data = tmp_path / "data"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[app]\ndata_dir = "{data}"\n'
        f'[database]\nurl = "sqlite:///{data / "test.sqlite3"}"\n'
        f'[security]\nkey_file = "{data / "keys" / "data.key"}"\n'
        '[roles]\nadmins = ["console:boss"]\n',
        encoding="utf-8",
    )
    return cfg


def state(tmp_path: Path) -> tuple[list[tuple[str, str, int | None]], list[str]]:
    """The staff rows, and the audit actions the CLI wrote."""
    app = build_app(make_settings(tmp_path))
    with app.db.session() as session:
        rows = [(s.user_id, s.role, s.job_id) for s in session.exec(select(Staff)).all()]
        audits = session.exec(select(AuditEvent.action).where(AuditEvent.actor == "cli")).all()
    app.db.engine.dispose()
    return rows, list(audits)


def test_grant_list_and_revoke(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(config)]
    assert main([*c, "roles", "grant", "telegram:42", "hr_manager", "--job", "sales"]) == 0
    assert "telegram:42 is now hr_manager (sales)" in capsys.readouterr().out
    assert main([*c, "roles", "grant", "wechat:oAbC-9", "hr_viewer"]) == 0
    assert main([*c, "roles", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert "console:boss admin all-jobs config.toml" in listing
    assert "telegram:42 hr_manager sales granted" in listing
    assert "wechat:oAbC-9 hr_viewer all-jobs granted" in listing
    assert main([*c, "roles", "revoke", "telegram:42", "--job", "sales"]) == 0
    assert "no longer has hr_manager (sales)" in capsys.readouterr().out
    assert state(tmp_path) == (
        [("oAbC-9", "hr_viewer", None)],
        ["role_granted", "role_granted", "role_revoked"],
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["roles", "grant", "::", "admin"], "not a platform:user"),
        (["roles", "grant", "sms:1", "admin"], "not a platform:user"),
        (["roles", "grant", "console:x", "hr_viewer", "--job", "nojob"], "no job with the code"),
        (["roles", "revoke", "console:nobody"], "no granted role"),
        (["roles", "revoke", "console:boss"], "config.toml [roles]"),
        (["roles", "revoke", "telegram:1", "--job", "nojob"], "no job with the code"),
    ],
)
def test_bad_role_commands_say_why_and_change_nothing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert main(["--config", str(config), *argv]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
    assert state(tmp_path) == ([], [])
