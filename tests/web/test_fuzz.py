"""Fuzzing the ASGI app's endpoints with malformed requests: no 500s, nothing stored.

The app has no OpenAPI schema (Starlette routes, webhook bodies defined by Telegram and
WeChat), so this uses hypothesis directly rather than schemathesis. Every example goes
through the whole app (security middleware, body limit, routing, the routes' own
signature checks) with the Telegram webhook, the WeChat and WeCom callbacks and the
contract signing pages mounted.
"""

from __future__ import annotations

import hashlib
import json
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.testclient import TestClient

from app.wiring import App, build_app
from bot.telegram import TelegramChannel, build_application
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from storage.contract_models import SigningEvent
from storage.models import AuditEvent, BackgroundJob, InboxEvent, OutboxMessage
from tests.conftest import make_settings
from tests.fakes.speech import ScriptedTranscriber
from tests.fakes.wechat_api import (
    AGENT_ID,
    CORP_ID,
    OA_AES_KEY,
    OA_APP_ID,
    OA_TOKEN,
    WORK_AES_KEY,
    WORK_TOKEN,
)
from web.app import SECRET_HEADER, TELEGRAM_WEBHOOK_PATH, create_app
from web.contracts import contract_routes
from web.wechat_routes import wechat_routes

SECRET = "fuzz-webhook-secret-0123456789abcdef"
NOWHERE = "http://127.0.0.1:9/"  # nothing listens: no request may leave the machine
PATHS = [
    "/",
    "/healthz",
    "/readyz",
    TELEGRAM_WEBHOOK_PATH,
    "/wechat/callback",
    "/wecom/callback",
    "/sign/abc",
    "/sign/abc/code/send",
    "/sign/abc/code",
    "/sign/abc/page/1.png",
    "/sign/abc/page/" + "9" * 5000 + ".png",
    "/sign/abc/contract.pdf",
    "/sign/abc/sign",
    "/sign/abc/decline",
    "/sign/static/signing_pad.js",
    "/sign/static/../../config.toml",
]
STORED = (InboxEvent, OutboxMessage, AuditEvent, BackgroundJob, SigningEvent)
SAFE = "".join(c for c in string.printable if c not in "\r\n\t\x0b\x0c")
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "expect"}


class Web(tuple[TestClient, App]):
    """The client and the app; a short repr keeps hypothesis' failure reports readable."""

    def __repr__(self) -> str:
        return "Web(client, app)"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    settings = make_settings(
        tmp,
        telegram={
            "enabled": True,
            "token": "123456:FUZZ-token-unused-no-network",
            "webhook_secret": SECRET,
            "mode": "webhook",
            "base_url": NOWHERE + "bot",
            "base_file_url": NOWHERE + "file/bot",
        },
        wechat={
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
        },
        web={"max_body_bytes": 20_000},
    )
    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    app = build_app(
        settings,
        pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator),
    )
    app.channels["telegram"] = TelegramChannel(app, build_application(settings.telegram))
    routes = [*wechat_routes(app), *contract_routes(app)]
    with TestClient(create_app(app, extra_routes=routes), raise_server_exceptions=False) as client:
        yield Web((client, app))
    app.db.engine.dispose()


def stored(app: App) -> dict[str, int]:
    tables = [model.__table__ for model in STORED]  # type: ignore[union-attr]
    with app.db.engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in tables
        }


header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z").filter(
    lambda n: n.lower() not in RESERVED
)
header_values = st.text(alphabet=SAFE, max_size=60).map(str.strip)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "text/xml",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
            "image/png",
            "application/octet-stream",
            "application/json; charset=utf-16",
            "",
            ";;;",
        ]
    ),
    header_values,
)
# Numbers as an attacker writes them: other scripts' digits ("²".isdigit() is True),
# more digits than int() converts (4300), signs, exponents, padding.
ODD_NUMBERS = [
    "²",
    "١٢٣",
    "１７６７６０００００",
    "9" * 400,
    "9" * 5000,
    "-1",
    "1e309",
    "0x1f",
    "NaN",
    " 1",
    "",
]
query_keys = st.one_of(
    st.sampled_from(
        ["signature", "timestamp", "nonce", "echostr", "encrypt_type", "msg_signature", "lang"]
    ),
    st.text(max_size=10),
)
bodies = st.one_of(
    st.binary(max_size=4000),
    st.text(max_size=2000).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=15,
    ).map(lambda v: json.dumps(v).encode()),
    st.text(max_size=300).map(
        lambda t: f"<xml><ToUserName>{t}</ToUserName><MsgType>text</MsgType></xml>".encode()
    ),
    st.just(b"x" * 25_000),  # over the body limit
    st.integers(50, 2_500).map(lambda n: b"<xml>" + b"<a>" * n + b"</a>" * n + b"</xml>"),
    st.integers(50, 9_000).map(lambda n: b"[" * n + b"]" * n),  # JSON nested too deep
    st.integers(50, 2_000).map(
        lambda n: b'{"update_id": 1, "message": ' + b'{"a":' * n + b"1" + b"}" * (n + 1)
    ),
)


def assert_safe(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:200])
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("x-frame-options") == "DENY"


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    path=st.one_of(st.sampled_from(PATHS), st.from_regex(r"\A/[A-Za-z0-9_./%~-]{0,40}\Z")),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    query=st.dictionaries(
        query_keys, st.one_of(st.text(max_size=40), st.sampled_from(ODD_NUMBERS)), max_size=5
    ),
    headers=st.dictionaries(header_names, header_values, max_size=4),
    content_type=st.none() | content_types,
    body=st.none() | bodies,
    wrong_secret=st.none() | header_values,
)
def test_malformed_requests_never_500_and_store_nothing(
    web: Web,
    path: str,
    method: str,
    query: dict[str, str],
    headers: dict[str, str],
    content_type: str | None,
    body: bytes | None,
    wrong_secret: str | None,
) -> None:
    client, app = web
    assume(wrong_secret != SECRET)
    headers = dict(headers)
    if content_type is not None:
        headers["content-type"] = content_type
    if wrong_secret is not None:
        headers[SECRET_HEADER] = wrong_secret
    before = stored(app)
    response = client.request(method, path, params=query, headers=headers, content=body)
    assert_safe(response)
    assert stored(app) == before


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=bodies, content_type=st.none() | st.just("application/json"))
def test_telegram_with_the_right_secret_and_a_malformed_update(
    web: Web, body: bytes, content_type: str | None
) -> None:
    client, app = web
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # nested too deep for json: not an update either
        data = None
    assume(not (isinstance(data, dict) and isinstance(data.get("update_id"), int)))
    headers = {SECRET_HEADER: SECRET}
    if content_type:
        headers["content-type"] = content_type
    before = stored(app)
    response = client.post(TELEGRAM_WEBHOOK_PATH, content=body, headers=headers)
    assert_safe(response)
    assert response.status_code in (400, 413)
    assert stored(app) == before


def _signed(token: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), "fuzz-nonce"
    signature = hashlib.sha1(  # noqa: S324 - WeChat's own scheme
        "".join(sorted([token, timestamp, nonce])).encode()
    ).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=bodies, aes=st.booleans())
def test_wechat_with_a_valid_signature_and_a_malformed_body(
    web: Web, body: bytes, aes: bool
) -> None:
    client, app = web
    params = _signed(OA_TOKEN)
    if aes:
        params |= {"encrypt_type": "aes", "msg_signature": params["signature"]}
    before = stored(app)
    response = client.post("/wechat/callback", params=params, content=body)
    assert_safe(response)
    assert stored(app) == before


def test_unknown_content_types_are_refused_and_headers_set(web: Web) -> None:
    client, app = web
    response = client.post(
        TELEGRAM_WEBHOOK_PATH,
        content=b'{"update_id": 1}',
        headers={SECRET_HEADER: SECRET, "content-type": "image/png"},
    )
    assert response.status_code == 415
    response = client.post(
        "/wechat/callback", content=b"<xml/>", headers={"content-type": "application/json"}
    )
    assert response.status_code == 415
    response = client.post("/elsewhere", content=b"x", headers={"content-type": "text/csv"})
    assert response.status_code == 415
    page = client.get("/sign/not-a-token")
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    health = client.get("/healthz")
    assert health.status_code == 200 and health.headers["x-frame-options"] == "DENY"
    big = client.post(TELEGRAM_WEBHOOK_PATH, content=b"x" * 30_000, headers={SECRET_HEADER: SECRET})
    assert big.status_code == 413 and big.headers["x-content-type-options"] == "nosniff"


ODD_REQUESTS: dict[str, tuple[str, str, dict[str, str], bytes | None]] = {
    **{
        f"{method} {path} timestamp={value[:8]!r}": (
            method,
            path,
            {"timestamp": value, "nonce": "n", "signature": "s", "msg_signature": "s"},
            b"<xml/>" if method == "POST" else None,
        )
        for path in ("/wechat/callback", "/wecom/callback")
        for method in ("GET", "POST")
        for value in ODD_NUMBERS
    },
    "page number of 5000 digits": ("GET", "/sign/abc/page/" + "9" * 5000 + ".png", {}, None),
    "page number in other digits": ("GET", "/sign/abc/page/١.png", {}, None),
    "wait in other digits": ("GET", "/sign/abc", {"wait": "²"}, None),
    "wait of 5000 digits": ("GET", "/sign/abc", {"wait": "9" * 5000}, None),
    "JSON nested 100000 deep": ("POST", TELEGRAM_WEBHOOK_PATH, {}, b"[" * 9_000 + b"]" * 9_000),
}


@pytest.mark.parametrize("name", list(ODD_REQUESTS))
def test_odd_numbers_and_deep_nesting_are_refused_not_errors(
    web: Web, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The class of item 10: never a 500, never a traceback at ERROR level."""
    client, app = web
    method, path, query, body = ODD_REQUESTS[name]
    headers = {SECRET_HEADER: SECRET} if path == TELEGRAM_WEBHOOK_PATH else {}
    before = stored(app)
    response = client.request(method, path, params=query, content=body, headers=headers)
    assert_safe(response)
    assert 400 <= response.status_code < 500, response.status_code
    assert "Traceback" not in response.text
    assert stored(app) == before
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
