"""Bad command lines: every sub-command with missing, extra or wrong arguments, files that
are missing, folders, empty, broken, nested too deeply or in the wrong encoding, and
broken configuration files. Each must exit non-zero with one clear line on stderr and no
traceback, and change nothing.

Arguments may name ``{config}`` (the world's configuration), ``{tmp}`` (a scratch
folder), ``{done}`` (a candidate id) and the files :data:`FILES` writes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD_TERMS = ROOT / "tests" / "fixtures" / "contracts" / "terms_fixed_term.json"

# name -> content, written into {tmp} before the cases run
FILES: dict[str, bytes] = {
    "empty.json": b"",
    "broken.json": b"{not json",
    "list.json": b"[1, 2, 3]",
    "nested.json": b"[" * 100_000 + b"]" * 100_000,
    "bom.json": b"\xef\xbb\xbf{not json",
    "gbk.json": '{"position": "销售代表"'.encode("gbk"),
    "wrong-types.json": b'{"contract_type": 5, "monthly_wage": "lots", "start_date": []}',
    "huge-number.json": b'{"monthly_wage": 1' + b"0" * 5000 + b"}",
    "nul.json": b'{"position": "a\x00b"}',
    "not.pdf": b"%PDF-1.7\nnot really a pdf",
    "empty.ogg": b"",
    "garbage.ogg": bytes(range(256)) * 4,
    "broken.toml": b"[app\n",
    "invalid.toml": b'[app]\ndefault_language = "fr"\n[interview]\nmax_answer_seconds = "long"\n',
    "nul.toml": b'[app]\ndefault_language = "z\x00h"\n',
    "utf16.toml": '[app]\ndefault_language = "zh"\n'.encode("utf-16"),
    "wages.toml": b"this is = = not toml",
}


@dataclass(frozen=True)
class CliCase:
    surface: str
    kind: str
    args: tuple[str, ...]
    config: bool = True  # prepend --config {config}

    @property
    def id(self) -> str:
        return f"{self.surface}:{self.kind}"


def case(surface: str, kind: str, *args: str, config: bool = True) -> CliCase:
    return CliCase(surface, kind, args, config)


TERMS = str(GOOD_TERMS)
CLI_CASES: list[CliCase] = [
    case("main.py", "no-command"),
    case("main.py", "unknown-command", "frobnicate"),
    case("main.py", "unknown-option", "--frob", "jobs", "failed"),
    case(
        "--config", "missing-file", "--config", "{tmp}/missing.toml", "jobs", "failed", config=False
    ),
    case("--config", "folder", "--config", "{tmp}", "jobs", "failed", config=False),
    case(
        "--config", "broken-toml", "--config", "{tmp}/broken.toml", "jobs", "failed", config=False
    ),
    case(
        "--config",
        "invalid-values",
        "--config",
        "{tmp}/invalid.toml",
        "jobs",
        "failed",
        config=False,
    ),
    case("--config", "nul", "--config", "{tmp}/nul.toml", "jobs", "failed", config=False),
    case("--config", "utf16", "--config", "{tmp}/utf16.toml", "jobs", "failed", config=False),
    case("db", "no-action", "db"),
    case("db", "unknown-action", "db", "downgrade"),
    case("db", "unknown-revision", "db", "upgrade", "nosuchrevision"),
    case("db", "revision-no-message", "db", "revision"),
    case("keys", "no-action", "keys"),
    case("keys", "batch-word", "keys", "rotate", "--batch", "many"),
    case("keys", "extra-args", "keys", "status", "now"),
    case("bench", "unknown-bench", "bench", "nosuch"),
    case("bench", "candidates-word", "bench", "engine", "--candidates", "many"),
    case("bench", "db-unknown", "bench", "engine", "--db", "oracle"),
    case("jobs", "no-action", "jobs"),
    case("jobs", "unknown-action", "jobs", "delete"),
    case("jobs", "retry-no-id", "jobs", "retry"),
    case("jobs", "retry-word-id", "jobs", "retry", "abc"),
    case("jobs", "retry-float-id", "jobs", "retry", "1.5"),
    case("jobs", "retry-25-digit-id", "jobs", "retry", "9" * 25),
    case("jobs", "retry-unknown-id", "jobs", "retry", "99999"),
    case("jobs", "retry-negative-id", "jobs", "retry", "-5"),
    case("jobs", "retry-fullwidth-id", "jobs", "retry", "１２"),
    case("jobs", "extra-args", "jobs", "failed", "1", "2"),
    case("roles", "no-action", "roles"),
    case("roles", "grant-no-platform", "roles", "grant", "nobody", "hr_viewer"),
    case("roles", "grant-unknown-role", "roles", "grant", "console:zed", "superuser"),
    case("roles", "grant-unknown-platform", "roles", "grant", "fax:zed", "hr_viewer"),
    case("roles", "grant-unknown-job", "roles", "grant", "console:zed", "hr_viewer", "nojob"),
    case("roles", "grant-user-html", "roles", "grant", "console:<b>x</b>", "hr_viewer"),
    case("roles", "revoke-no-user", "roles", "revoke"),
    case("models", "unknown-option", "models", "install", "--frob"),
    case("models", "no-action", "models"),
    case("models", "from-missing-dir", "models", "install", "--from", "{tmp}/missing"),
    case("models", "from-a-file", "models", "install", "--from", "{tmp}/garbage.ogg"),
    case("models", "from-folder-without-model", "models", "install", "--from", "{tmp}"),
    case("transcribe", "no-file", "transcribe"),
    case("transcribe", "missing-file", "transcribe", "{tmp}/missing.ogg"),
    case("transcribe", "folder", "transcribe", "{tmp}"),
    case("transcribe", "lang-unknown", "transcribe", "{tmp}/garbage.ogg", "--lang", "fr"),
    case("transcribe", "beam-word", "transcribe", "{tmp}/garbage.ogg", "--beam", "wide"),
    case("score", "no-answer", "score", "--question", "Why?"),
    case("score", "no-question", "score", "--answer", "Because."),
    case(
        "score",
        "answer-file-missing",
        "score",
        "--question",
        "Why?",
        "--answer-file",
        "{tmp}/missing.txt",
    ),
    case("score", "answer-file-folder", "score", "--question", "Why?", "--answer-file", "{tmp}"),
    case(
        "score", "answer-file-gbk", "score", "--question", "Why?", "--answer-file", "{tmp}/gbk.json"
    ),
    case(
        "score",
        "answer-and-file",
        "score",
        "--question",
        "Q",
        "--answer",
        "A",
        "--answer-file",
        "{tmp}/x",
    ),
    case("score", "lang-unknown", "score", "--question", "Q", "--answer", "A", "--lang", "fr"),
    case("report", "no-id", "report", "-o", "{tmp}/r.pdf"),
    case("report", "word-id", "report", "abc", "-o", "{tmp}/r.pdf"),
    case("report", "unknown-id", "report", "99999", "-o", "{tmp}/r.pdf"),
    case("report", "25-digit-id", "report", "9" * 25, "-o", "{tmp}/r.pdf"),
    case("report", "fullwidth-id", "report", "＃１５", "-o", "{tmp}/r.pdf"),
    case("report", "no-output", "report", "{done}"),
    case("report", "output-folder", "report", "{done}", "-o", "{tmp}"),
    case("report", "lang-unknown", "report", "{done}", "-o", "{tmp}/r.pdf", "--lang", "fr"),
    case("contract", "no-action", "contract"),
    case("contract", "check-missing-file", "contract", "check", "{tmp}/missing.json"),
    case("contract", "check-folder", "contract", "check", "{tmp}"),
    case("contract", "check-empty", "contract", "check", "{tmp}/empty.json"),
    case("contract", "check-broken-json", "contract", "check", "{tmp}/broken.json"),
    case("contract", "check-list-json", "contract", "check", "{tmp}/list.json"),
    case("contract", "check-nested-json", "contract", "check", "{tmp}/nested.json"),
    case("contract", "check-bom", "contract", "check", "{tmp}/bom.json"),
    case("contract", "check-gbk", "contract", "check", "{tmp}/gbk.json"),
    case("contract", "check-wrong-types", "contract", "check", "{tmp}/wrong-types.json"),
    case("contract", "check-huge-number", "contract", "check", "{tmp}/huge-number.json"),
    case("contract", "check-nul", "contract", "check", "{tmp}/nul.json"),
    case("contract", "check-bad-today", "contract", "check", TERMS, "--today", "2026-13-45"),
    case("contract", "check-today-word", "contract", "check", TERMS, "--today", "tomorrow"),
    case("contract", "check-bad-wages", "contract", "check", TERMS, "--wages", "{tmp}/wages.toml"),
    case("contract", "check-lang-unknown", "contract", "check", TERMS, "--lang", "fr"),
    case(
        "contract",
        "render-broken-json",
        "contract",
        "render",
        "{tmp}/broken.json",
        "-o",
        "{tmp}/c.pdf",
    ),
    case("contract", "render-no-output", "contract", "render", TERMS),
    case("contract", "render-output-folder", "contract", "render", TERMS, "-o", "{tmp}"),
    case("contract", "validate-not-pdf", "contract", "validate", "{tmp}/not.pdf"),
    case("contract", "validate-missing", "contract", "validate", "{tmp}/missing.pdf"),
    case("contract", "employee-no-query", "contract", "employee"),
    case("contract", "bench-unknown-option", "contract", "bench", "--frob"),
    case("wechat", "no-action", "wechat"),
    case("wechat", "bind-robot-unknown-job", "wechat", "bind-robot", "nojob"),
    case("wechat", "bind-robot-bad-chat", "wechat", "bind-robot", "sales", "--chat", "fax:1"),
    case("wechat", "bind-robot-lang-unknown", "wechat", "bind-robot", "sales", "--lang", "fr"),
    case("wechat", "qr-no-token", "wechat", "qr"),
    case("wechat", "qr-unknown-token", "wechat", "qr", "nosuchtoken"),
    case("retention", "no-action", "retention"),
    case("retention", "extra-args", "retention", "run", "now"),
    case("run", "extra-args", "run", "now"),
    case("chat", "lang-unknown", "chat", "--lang", "fr"),
    case("chat", "extra-args", "chat", "hello"),
    case("demo", "extra-args", "demo", "now"),
]
