"""An operator's mistake on the command line ends in one clear line, never a traceback.

Each row below is a bad invocation of ``python main.py ...``: a folder given where a
file belongs (as input or as ``-o``), ``-o`` into a missing folder, JSON nested too
deeply, a broken config, a data folder whose database was never migrated, a PostgreSQL
server that is not there. Each runs through ``main.main`` in this process and must exit
non-zero with exactly one line on stderr that says what is wrong.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.render import zh_number
from core.logging import LIBRARY_LEVELS, PROJECT_PACKAGES
from core.settings import ENV_OVERRIDES
from main import main

ROOT = Path(__file__).resolve().parent.parent
TERMS = ROOT / "tests" / "fixtures" / "contracts" / "terms_fixed_term.json"
NOT_MIGRATED = "database not initialised: run `python main.py db upgrade`"
UNREACHABLE = "cannot reach the database at 127.0.0.1:1/test"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh data folder (no key, database never migrated) and the bad inputs."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "config.toml").write_text(
        f'[app]\ndata_dir = "{tmp / "data"}"\n'
        f'[database]\nurl = "sqlite:///{tmp / "data" / "fresh.sqlite3"}"\n'
        f'[security]\nkey_file = "{tmp / "data" / "keys" / "data.key"}"\n',
        "utf-8",
    )
    (tmp / "pg.toml").write_text(
        f'[app]\ndata_dir = "{tmp / "pgdata"}"\n'
        '[database]\nurl = "postgresql+psycopg://postgres@127.0.0.1:1/test"\n'
        f'[security]\nkey_file = "{tmp / "pgdata" / "keys" / "data.key"}"\n',
        "utf-8",
    )
    (tmp / "broken.toml").write_text("[app\n", "utf-8")
    (tmp / "invalid.toml").write_text(
        '[app]\ndefault_language = "fr"\nlog_level = "LOUD"\n'
        '[interview]\nmax_answer_seconds = "long"\n',
        "utf-8",
    )
    (tmp / "nested.json").write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    (tmp / "nested_object.json").write_text('{"a":' * 50_000 + "1" + "}" * 50_000, "utf-8")
    (tmp / "broken.json").write_text("{not json", "utf-8")
    (tmp / "latin1.json").write_bytes('{"position": "caf\xe9"}'.encode("latin-1"))
    (tmp / "list.json").write_text("[1, 2, 3]", "utf-8")
    (tmp / "empty.ogg").write_bytes(b"")
    (tmp / "a_file").write_text("not a folder", "utf-8")
    return tmp


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No operator environment leaks in; commands that set up logging are undone."""
    for name in [*ENV_OVERRIDES, "INTERVIEWER_CONFIG", "INTERVIEWER_DEBUG"]:
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    factory = logging.getLogRecordFactory()
    names = [*LIBRARY_LEVELS, *PROJECT_PACKAGES]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    logging.setLogRecordFactory(factory)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _argv(template: list[str], folder: Path) -> list[str]:
    values = {"T": str(folder), "terms": str(TERMS)}
    return [part.format(**values) for part in template]


C = ["--config", "{T}/config.toml"]  # a fresh data folder
P = ["--config", "{T}/pg.toml"]  # PostgreSQL on a port nobody listens on

# (argv, a phrase the one line must hold)
CASES: list[tuple[list[str], str]] = [
    # a folder where a file belongs, as input ...
    ([*C, "transcribe", "{T}"], "is a folder, not a file"),
    ([*C, "score", "--question", "q", "--answer-file", "{T}"], "Is a directory"),
    ([*C, "contract", "check", "{T}"], "is a folder, not a file"),
    ([*C, "contract", "check", "{terms}", "--wages", "{T}"], "is a folder, not a file"),
    ([*C, "contract", "render", "{T}", "-o", "{T}/x.pdf"], "is a folder, not a file"),
    ([*C, "contract", "validate", "{T}"], "is a folder, not a file"),
    ([*C, "contract", "bench", "{T}"], "is a folder, not a file"),
    (["--config", "{T}", "keys", "status"], "is a folder, not a file"),
    # ... or as output
    ([*C, "contract", "render", "{terms}", "-o", "{T}"], "is a folder, not a file"),
    # -o into a folder that does not exist, or through a file
    ([*C, "contract", "render", "{terms}", "-o", "{T}/missing/x.pdf"], "does not exist"),
    ([*C, "contract", "render", "{terms}", "-o", "{T}/a_file/x.pdf"], "not a folder"),
    # missing and unreadable inputs
    ([*C, "transcribe", "{T}/missing.ogg"], "No such file"),
    ([*C, "transcribe", "{T}/empty.ogg"], "empty"),
    ([*C, "score", "--question", "q", "--answer-file", "{T}/missing.txt"], "No such file"),
    ([*C, "contract", "check", "{T}/missing.json"], "not found"),
    ([*C, "contract", "check", "{terms}", "--wages", "{T}/missing.toml"], "not found"),
    (["--config", "{T}/missing.toml", "keys", "status"], "file not found"),
    # malformed input
    ([*C, "contract", "check", "{T}/nested.json"], "nested too deeply"),
    ([*C, "contract", "check", "{T}/nested_object.json"], "nested too deeply"),
    ([*C, "contract", "render", "{T}/nested.json", "-o", "{T}/n.pdf"], "nested too deeply"),
    ([*C, "contract", "check", "{T}/broken.json"], "not valid JSON"),
    ([*C, "contract", "check", "{T}/latin1.json"], "error"),
    ([*C, "contract", "check", "{T}/list.json"], "error"),
    ([*C, "contract", "check", "{terms}", "--wages", "{T}/broken.toml"], "not valid TOML"),
    (["--config", "{T}/broken.toml", "db", "current"], "not valid TOML"),
    (["--config", "{T}/invalid.toml", "contract", "check", "{terms}"], "default_language"),
    # a fresh data folder: the database was never migrated
    ([*C, "report", "1", "-o", "{T}/r.pdf"], NOT_MIGRATED),
    ([*C, "jobs", "failed"], NOT_MIGRATED),
    ([*C, "jobs", "retry", "1"], NOT_MIGRATED),
    ([*C, "contract", "employee", "Zhang"], NOT_MIGRATED),
    ([*C, "contract", "validate", "HT-20261203-0001"], NOT_MIGRATED),
    # an unreachable PostgreSQL
    ([*P, "db", "current"], UNREACHABLE),
    ([*P, "db", "upgrade"], UNREACHABLE),
    ([*P, "jobs", "failed"], UNREACHABLE),
    ([*P, "report", "1", "-o", "{T}/r.pdf"], UNREACHABLE),
    ([*P, "contract", "employee", "7"], UNREACHABLE),
    ([*P, "contract", "validate", "HT-1"], UNREACHABLE),
    ([*P, "keys", "status"], UNREACHABLE),
    ([*P, "keys", "rotate"], UNREACHABLE),
    ([*P, "retention", "run"], UNREACHABLE),
    ([*P, "wechat", "bind-robot", "sales"], UNREACHABLE),
    ([*P, "chat", "--user", "hr"], UNREACHABLE),
    ([*P, "run"], UNREACHABLE),
]


@pytest.mark.parametrize(
    ("template", "phrase"),
    CASES,
    ids=[" ".join(argv).replace("--config {T}/", "")[:70] for argv, _ in CASES],
)
def test_a_bad_invocation_is_one_line_and_a_failure(
    folder: Path, template: list[str], phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(_argv(template, folder))
    out, err = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in out + err
    assert len(err.splitlines()) == 1, err
    assert phrase in err, err


def test_there_are_at_least_thirty_distinct_cases() -> None:
    assert len({tuple(argv) for argv, _ in CASES}) >= 30
    commands = {
        next(p for p in argv if not p.startswith("-") and "{" not in p) for argv, _ in CASES
    }
    assert commands >= {"transcribe", "score", "report", "jobs", "contract", "db", "keys"}


@pytest.mark.parametrize(
    ("template", "phrase"),
    [
        ([*C, "score", "--question", "", "--answer", "x"], "--question: must not be empty"),
        ([*C, "score", "--question", "  ", "--answer", "x"], "--question: must not be empty"),
        ([*C, "report", "first", "-o", "{T}/r.pdf"], "invalid int value"),
        ([*C, "contract", "check", "{terms}", "--today", "2026-13-01"], "--today"),
        ([*C, "jobs", "again"], "invalid choice"),
    ],
)
def test_argparse_errors_are_a_usage_line_and_one_error_line(
    folder: Path, template: list[str], phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(_argv(template, folder))
    _, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("main.py "), err
    assert phrase in err.splitlines()[-1], err


def test_debug_shows_the_traceback_instead(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(IsADirectoryError):
        main(_argv(["--debug", *C, "contract", "check", "{T}"], folder))
    monkeypatch.setenv("INTERVIEWER_DEBUG", "1")
    with pytest.raises(IsADirectoryError):
        main(_argv([*C, "contract", "check", "{T}"], folder))


def test_the_line_says_where_the_database_is_and_never_its_password(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://hr:s3cret-pw@127.0.0.1:1/hiring")
    assert main(_argv([*C, "jobs", "failed"], folder)) == 1
    err = capsys.readouterr().err
    assert err == "error: cannot reach the database at 127.0.0.1:1/hiring\n"


def test_a_real_run_prints_no_traceback(folder: Path) -> None:
    """The same through ``python main.py`` as an operator types it."""
    result = subprocess.run(
        [sys.executable, "main.py", "--config", str(folder / "config.toml"), "jobs", "failed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES},
    )
    assert result.returncode == 1
    assert result.stderr == f"error: {NOT_MIGRATED}\n"
    assert not (folder / "data" / "keys" / "data.key").exists()  # no key for an empty database


# --------------------------------------------------------------- many additional clauses
def test_clause_numbers_in_chinese_go_past_ninety_nine() -> None:
    assert [zh_number(n) for n in (1, 10, 12, 21, 99)] == ["一", "十", "十二", "二十一", "九十九"]
    assert zh_number(100) == "一百"
    assert zh_number(101) == "一百零一"
    assert zh_number(110) == "一百一十"
    assert zh_number(120) == "一百二十"
    assert zh_number(1005) == "一千零五"
    assert zh_number(12_000) == "一万二千"
    assert zh_number(100_010) == "十万零一十"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_render_takes_every_clause_that_check_accepts(
    tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    terms = json.loads(TERMS.read_text("utf-8"))
    terms["additional_clauses"] = [f"第{n}项补充约定。" for n in range(1, 121)]
    path = tmp_path / "many.json"
    path.write_text(json.dumps(terms, ensure_ascii=False), "utf-8")
    config = ["--config", str(folder / "config.toml")]
    assert main([*config, "contract", "check", str(path)]) == 0
    out = tmp_path / "many.pdf"
    assert main([*config, "contract", "render", str(path), "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "一百二十" in text
    assert "第120项补充约定" in text
