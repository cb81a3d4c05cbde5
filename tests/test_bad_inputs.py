"""The bad-input corpus: chat, CLI, HTTP and file imports, table-driven.

Every case is one bad input on one surface. Chat cases must be answered with exactly the
refusal or usage message(s) named, in the user's language (en and zh); HTTP cases with a
4xx status; CLI cases with a non-zero exit and one line on stderr, never a traceback. And
none may change the domain tables (inbox, outbox, audit rows aside) or the media store.
The tables live in ``tests/bad_inputs/``; ``test_the_corpus_is_large_enough`` counts
the distinct surface × kind pairs.
"""

from __future__ import annotations

import gc
import hashlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.wiring import build_app
from bot.telegram import TelegramChannel, build_application
from main import main
from tests.bad_inputs.candidate_cases import CANDIDATE_CASES
from tests.bad_inputs.cases import ChatCase
from tests.bad_inputs.cli_cases import CLI_CASES, FILES, CliCase
from tests.bad_inputs.file_cases import FILE_CASES, FileCase
from tests.bad_inputs.http_cases import HTTP_CASES, SECRET, HttpCase
from tests.bad_inputs.staff_cases import STAFF_CASES
from tests.bad_inputs.world import (
    World,
    build_world,
    file_event,
    matches,
    snapshot,
    special_event,
    template,
)
from tests.conftest import make_settings
from tests.dialogs.hr_helpers import GROUP
from tests.fakes.wechat_api import (
    AGENT_ID,
    CORP_ID,
    OA_AES_KEY,
    OA_APP_ID,
    OA_TOKEN,
    WORK_AES_KEY,
    WORK_TOKEN,
)
from web.app import create_app
from web.contracts import contract_routes
from web.wechat_routes import wechat_routes

PG_URL = os.environ.get("TEST_DATABASE_URL")
CHAT_CASES = STAFF_CASES + CANDIDATE_CASES
NOWHERE = "http://127.0.0.1:9/"  # nothing listens: no request may leave the machine
WECHAT: dict[str, object] = {
    "enabled": True,
    "app_id": OA_APP_ID,
    "app_secret": "oa-app-secret-value",
    "token": OA_TOKEN,
    "aes_key": OA_AES_KEY,
    "api_base_url": NOWHERE,
    "work_enabled": True,
    "corp_id": CORP_ID,
    "corp_secret": "work-secret-value",
    "agent_id": AGENT_ID,
    "work_token": WORK_TOKEN,
    "work_aes_key": WORK_AES_KEY,
    "work_api_base_url": NOWHERE,
}


ALL_IDS = [c.id for c in CHAT_CASES + FILE_CASES + HTTP_CASES + CLI_CASES]


def test_the_corpus_is_large_enough() -> None:
    """At least 250 distinct cases: each a different surface x kind of badness."""
    assert len(set(ALL_IDS)) == len(ALL_IDS), "two cases share a surface and kind"
    surfaces = {case_id.split(":")[0] for case_id in ALL_IDS}
    print(f"bad-input corpus: {len(ALL_IDS)} distinct cases over {len(surfaces)} surfaces")
    assert len(ALL_IDS) >= 250


@pytest.fixture(scope="module", params=["sqlite", "postgres"] if PG_URL else ["sqlite"])
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_database: str | None,
) -> Iterator[World]:
    url = None
    if request.param == "postgres":
        from tests.conftest import _reset_pg

        assert pg_database is not None
        _reset_pg(pg_database)
        url = pg_database
    built = build_world(tmp_path_factory.mktemp("bad-inputs"), url)
    yield built
    built.app.db.engine.dispose()


def resolve(world: World, case: ChatCase, lang: str) -> tuple[str, str]:
    """The user and the line of a case, its placeholders filled from the world."""
    user = case.user
    if user.startswith("cand:"):
        user = world.user(user[5:], lang)
    fresh = world.tokens["fresh"]
    values = {
        **{k: str(v) for k, v in world.ids.items() if "-" not in k},
        "token_fresh": fresh,
        "token_cut": fresh[:-1],
        "token_plus": fresh + "x",
        "token_upper": fresh.upper() if fresh.upper() != fresh else fresh.lower(),
        "token_question": world.tokens[f"question-{lang}"],
        "token_locked": world.tokens[f"locked-{lang}"],
    }
    line = case.line
    for key, value in values.items():
        line = line.replace("{" + key + "}", value)
    return user, line


# Code-level English that must not reach a Chinese-speaking user inside a message.
ENGLISH_LEAKS = (
    "is not '",
    "unknown competency",
    "not 100",
    "listed twice",
    "Input should",
    "Field required",
    "Traceback",
)


def expected_match(text: str, lang: str, expect: str) -> bool:
    """Whether ``text`` is the message of one of the keys in ``expect`` ("a|b")."""
    for key in expect.split("|"):
        if key.endswith("…"):
            if template(lang, key[:-1]).match(text) is not None:
                return True
        elif matches(text, lang, key):
            return True
    return False


# Kinds of badness where PostgreSQL can answer differently from SQLite: it refuses NUL in
# text, its integers overflow where SQLite's do not (or raise elsewhere), it enforces lengths
# and encodings, and it compares and pattern-matches strings itself. The other chat and file
# cases take the same code path on both databases and run once, on SQLite, in both languages;
# HTTP and CLI cases (stored replay triples, configuration, connections) run on both.
DATABASE_SENSITIVE = (
    "nul", "digit", "huge", "long", "sql", "like", "wildcard", "emoji", "exp", "inf", "nan",
    "negative", "float", "oversized", "zero-width", "rtl", "fullwidth", "bom", "control",
    "utf", "gbk", "latin", "binary", "html", "format",
)  # fmt: skip


def database_sensitive(params: dict[str, object]) -> bool:
    """Whether a chat or file case also runs on PostgreSQL (in English: the language picks
    a catalogue, not a query)."""
    case = params["case"]
    assert isinstance(case, ChatCase | FileCase)
    return params["lang"] == "en" and any(word in case.kind for word in DATABASE_SENSITIVE)


# Every chat case in English; in Chinese every candidate case and every other staff case
# (the staff half keeps the file well under a minute; each message has both catalogues).
CHAT_RUNS = [(c, "en") for c in CHAT_CASES] + [
    (c, "zh") for c in STAFF_CASES[::2] + CANDIDATE_CASES
]


@pytest.mark.postgres_subset.with_args(database_sensitive)
@pytest.mark.parametrize(
    ("case", "lang"), CHAT_RUNS, ids=[f"{c.id}-{lang}" for c, lang in CHAT_RUNS]
)
def test_chat(world: World, case: ChatCase, lang: str) -> None:
    chat = world.chat
    user, line = resolve(world, case, lang)
    where = GROUP if case.group else None
    for step in case.setup:
        chat.send(user, step, lang=lang, group=where)
    event = (
        special_event(world.app, user, line, lang, where)
        if line.startswith("@")
        else chat.event(user, line, lang=lang, group=where)
    )
    before = snapshot(world.app)  # media an adapter downloaded is in the store already
    try:
        replies = chat.deliver(event)
        after = snapshot(world.app)
    finally:
        for step in case.teardown:
            chat.send(user, step, lang=lang, group=where)
    # A button press is acknowledged with an empty answer (it stops the spinner); that
    # is not a message, so it neither counts nor stands in for one.
    replies = [r for r in replies if not (r.kind == "answer" and not r.text)]
    texts = [r.text for r in replies]
    assert all(r.chat_id == (where or user) for r in replies), [
        (r.chat_id, r.text) for r in replies
    ]
    assert len(replies) == len(case.expect), texts
    for text, key in zip(texts, case.expect, strict=True):
        assert expected_match(text, lang, key), (key, text)
        if lang == "zh":
            assert not any(leak in text for leak in ENGLISH_LEAKS), text
    changed = {k for k in before if before[k] != after[k]}
    assert not changed, f"changed: {sorted(changed)}"


@pytest.mark.postgres_subset.with_args(database_sensitive)
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("case", FILE_CASES, ids=[c.id for c in FILE_CASES])
def test_file(world: World, case: FileCase, lang: str) -> None:
    chat = world.chat
    event = file_event(
        world.app, case.user, case.data, case.name, case.caption, lang=lang, size=case.size
    )
    before = snapshot(world.app)  # the upload itself is in the media store already
    replies = chat.deliver(event)
    after = snapshot(world.app)
    texts = [r.text for r in replies]
    assert all(r.chat_id == case.user for r in replies), texts
    assert len(replies) == len(case.expect), texts
    for text, key in zip(texts, case.expect, strict=True):
        assert expected_match(text, lang, key), (key, text)
        if lang == "zh":
            assert not any(leak in text for leak in ENGLISH_LEAKS), text
    changed = {k for k in before if before[k] != after[k]}
    assert not changed, f"changed: {sorted(changed)}"


@pytest.fixture(scope="module")
def web(world: World) -> Iterator[TestClient]:
    """The ASGI app with every route mounted: Telegram webhook, WeChat and WeCom callbacks,
    signing pages. It runs on the world's database (settings with the channels on)."""
    settings = make_settings(
        world.tmp,
        world.db_url,
        telegram={
            "enabled": True,
            "token": "123456:CORPUS-token-unused-no-network",
            "webhook_secret": SECRET,
            "mode": "webhook",
            "base_url": NOWHERE + "bot",
            "base_file_url": NOWHERE + "file/bot",
        },
        wechat=WECHAT,
        web={"max_body_bytes": 20_000},
    )
    app = build_app(settings, db=world.app.db, clock=world.app.services.clock)
    app.channels["telegram"] = TelegramChannel(app, build_application(settings.telegram))
    routes = [*wechat_routes(app), *contract_routes(app)]
    with TestClient(create_app(app, extra_routes=routes), raise_server_exceptions=False) as client:
        yield client


def _signature(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()  # noqa: S324


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c.id for c in HTTP_CASES])
def test_http(world: World, web: TestClient, case: HttpCase) -> None:
    params = dict(case.params)
    if case.signed:
        now = world.app.services.clock.now().timestamp()  # the callbacks check it is fresh
        timestamp, nonce = str(int(now)), "corpus-nonce"
        params |= {"timestamp": timestamp, "nonce": nonce}
        if case.signed == "wechat":
            params["signature"] = _signature(OA_TOKEN, timestamp, nonce)
            if params.get("encrypt_type") == "aes":
                params["msg_signature"] = params["signature"]
        else:
            params["msg_signature"] = _signature(WORK_TOKEN, timestamp, nonce, "AAAA")
    before = snapshot(world.app)
    response = web.request(
        case.method, case.path, params=params, headers=case.headers, content=case.body
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert "Traceback" not in response.text
    changed = {k for k, v in snapshot(world.app).items() if before[k] != v}
    assert not changed, f"changed: {sorted(changed)}"


@pytest.fixture(scope="module")
def cli_folder(world: World) -> Path:
    """The world's configuration as a file, and the bad input files, in a scratch folder."""
    folder = world.tmp / "cli"
    folder.mkdir()
    data = world.tmp / "data"
    database = world.db_url or f"sqlite:///{data / 'test.sqlite3'}"
    (folder / "config.toml").write_text(
        f'[app]\ndata_dir = "{data}"\n[database]\nurl = "{database}"\n'
        f'[security]\nkey_file = "{data / "keys" / "data.key"}"\n',
        "utf-8",
    )
    for name, content in FILES.items():
        (folder / name).write_bytes(content)
    return folder


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli(
    world: World, cli_folder: Path, case: CliCase, capsys: pytest.CaptureFixture[str]
) -> None:
    values = {"{tmp}": str(cli_folder), "{done}": str(world.ids["done"])}
    args = [values.get(a, a) for a in case.args]
    args = [a.replace("{tmp}", str(cli_folder)) for a in args]
    if case.config:
        args = ["--config", str(cli_folder / "config.toml"), *args]
    before = snapshot(world.app)
    capsys.readouterr()
    with warnings.catch_warnings():
        # A command's engine is left to the end of the process; in this one, its
        # PostgreSQL connections are collected here, not in some later test.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own exit
            code = exc.code if isinstance(exc.code, int) else 1
        gc.collect()
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0, (out[-300:], err[-300:])
    assert "Traceback" not in err + out
    assert len(lines) == 1, err[-600:]
    changed = {k for k, v in snapshot(world.app).items() if before[k] != v}
    assert not changed, f"changed: {sorted(changed)}"
