"""'Sign in with WeCom' on the console: a signed, single-use state bound to the browser,
the code exchanged for the member's userid at a fake WeCom API on 127.0.0.1, and a
session for ``wecom:<userid>`` with that identity's roles, like a sign-in link gives."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from app.wiring import App, build_app
from core.clock import FakeClock
from dialogs.console.links import purge_expired
from dialogs.kernel.roles import set_grant
from storage.models import AuditEvent, Job, KeyValue
from tests.conftest import make_settings
from tests.fakes.wechat_api import AGENT_ID, CORP_ID, FakeWeChat
from tests.web.test_console import csrf_of
from web.app import create_app
from web.console.routes import console_routes

# The same code path on both databases: SQLite only.
pytestmark = pytest.mark.postgres_subset.with_args(lambda params: False)

CALLBACK = "/console/wecom/callback"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


def wecom_app(
    tmp_path: Path,
    db_url: str | None,
    clock: FakeClock,
    fake: FakeWeChat,
    **wechat: object,
) -> App:
    settings = make_settings(
        tmp_path,
        db_url,
        app={"default_language": "en", "public_base_url": "https://hr.example.com"},
        wechat={
            "corp_id": CORP_ID,
            "corp_secret": "work-secret-value",
            "agent_id": AGENT_ID,
            "work_api_base_url": fake.base_url,
            **wechat,
        },
    )
    app = build_app(settings, clock=clock)
    with app.db.transaction() as session:
        job = Job(code="sales", title_zh="销售", title_en="Sales")
        session.add(job)
        session.flush()
        set_grant(session, "wecom", "hr_li", "hr_manager", job.id, clock.now())
    return app


@pytest.fixture
def app(tmp_path: Path, db_url: str, clock: FakeClock, fake: FakeWeChat) -> Iterator[App]:
    application = wecom_app(tmp_path, db_url, clock, fake, work_oauth=True)
    yield application
    application.db.engine.dispose()


def client_for(app: App) -> TestClient:
    """A browser on the https public URL (the console's cookies are Secure there)."""
    routes = console_routes(app)
    return TestClient(create_app(app, extra_routes=routes), base_url="https://testserver")


def start(client: TestClient) -> tuple[str, dict[str, str]]:
    """Press "Sign in with WeCom": the state and the authorize URL's query."""
    response = client.get("/console/wecom/login", follow_redirects=False)
    assert response.status_code == 302
    where = urllib.parse.urlsplit(response.headers["location"])
    query = dict(urllib.parse.parse_qsl(where.query))
    return query["state"], query | {"_host": where.netloc, "_path": where.path}


def test_a_wecom_member_with_a_role_signs_in(app: App, fake: FakeWeChat) -> None:
    client = client_for(app)
    door = client.get("/console")
    assert door.status_code == 401 and 'href="/console/wecom/login"' in door.text
    assert "Sign in with WeCom" in door.text

    response = client.get("/console/wecom/login", follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "console_oauth=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=lax" in cookie.lower() and f"Path={CALLBACK}" in cookie
    where = urllib.parse.urlsplit(response.headers["location"])
    query = dict(urllib.parse.parse_qsl(where.query))
    assert where.netloc == "login.work.weixin.qq.com" and query["login_type"] == "CorpApp"
    assert (query["appid"], query["agentid"]) == (CORP_ID, AGENT_ID)
    assert query["redirect_uri"] == "https://hr.example.com" + CALLBACK
    state = query["state"]
    assert len(state) <= 128 and state.isalnum()

    signed = client.get(CALLBACK, params={"code": fake.login_code("hr_li"), "state": state})
    assert signed.status_code == 200 and "Signed in as wecom:hr_li" in signed.text
    assert '<meta http-equiv="refresh" content="0;url=/console">' in signed.text
    session_cookie = signed.headers.get_list("set-cookie")
    assert any("console_session=" in c and "samesite=strict" in c.lower() for c in session_cookie)
    assert any(c.startswith("console_oauth=") and "Max-Age=0" in c for c in session_cookie)
    jobs = client.get("/console")
    assert jobs.status_code == 200 and "wecom:hr_li" in jobs.text and "sales" in jobs.text
    [call] = fake.of("auth/getuserinfo")
    assert call.query["access_token"].startswith("work-token-")

    with app.db.session() as session:
        audits = session.exec(
            select(AuditEvent).where(AuditEvent.action == "console_sign_in")
        ).all()
    assert [(a.actor, a.details["via"]) for a in audits] == [("wecom:hr_li", "wecom_oauth")]
    out = client.post("/console/logout", data={"csrf": csrf_of(jobs.text)})
    assert out.status_code == 200 and client.get("/console").status_code == 401
    assert 'href="/console/wecom/login"' in out.text  # signing in again is one press


def test_state_replayed_forged_expired_or_from_another_browser_is_refused(
    app: App, clock: FakeClock, fake: FakeWeChat
) -> None:
    client = client_for(app)
    state, _ = start(client)
    other = client_for(app)  # a page on another site sending a victim's browser back
    stolen = other.get(CALLBACK, params={"code": fake.login_code("hr_li"), "state": state})
    assert stolen.status_code == 403 and "started in another browser" in stolen.text
    assert 'href="/console/wecom/login"' in stolen.text  # start again
    assert other.get("/console").status_code == 401

    flipped = state[:-1] + ("0" if state[-1] != "0" else "1")
    forged = client.get(CALLBACK, params={"code": fake.login_code("hr_li"), "state": flipped})
    assert forged.status_code == 403
    state, _ = start(client)
    first = client.get(CALLBACK, params={"code": fake.login_code("hr_li"), "state": state})
    assert first.status_code == 200
    client.cookies.clear()
    client.cookies.set("console_oauth", state[:32], path=CALLBACK)  # even with the cookie
    replay = client.get(CALLBACK, params={"code": fake.login_code("hr_li"), "state": state})
    assert replay.status_code == 403 and "used already" in replay.text
    assert client.get("/console").status_code == 401

    state, _ = start(client)
    clock.advance(minutes=11)
    late = client.get(CALLBACK, params={"code": fake.login_code("hr_li"), "state": state})
    assert late.status_code == 403
    nothing = client.get(CALLBACK, params={"code": fake.login_code("hr_li")})
    assert nothing.status_code == 403
    assert len(fake.of("auth/getuserinfo")) == 1  # only the one good state asked WeCom

    start(client)  # a state never used is purged once it expires
    clock.advance(minutes=11)
    purge_expired(app.db, app.services)
    with app.db.session() as session:
        keys = session.exec(select(KeyValue.key)).all()
    assert not any(k.startswith("console_oauth:") for k in keys)


def test_someone_without_a_role_or_not_a_member_is_refused(app: App, fake: FakeWeChat) -> None:
    client = client_for(app)
    state, _ = start(client)
    refused = client.get(CALLBACK, params={"code": fake.login_code("stranger"), "state": state})
    assert refused.status_code == 403
    assert "Your WeCom account (wecom:stranger) holds no HR role" in refused.text
    assert "console_session=" not in refused.headers.get("set-cookie", "")
    assert client.get("/console").status_code == 401

    state, _ = start(client)
    visitor = client.get(CALLBACK, params={"code": fake.login_code(None), "state": state})
    assert visitor.status_code == 403 and "Only members" in visitor.text
    state, _ = start(client)
    cancelled = client.get(CALLBACK, params={"state": state})  # no code: cancelled on WeCom
    assert cancelled.status_code == 400 and "WeCom did not confirm" in cancelled.text
    state, _ = start(client)
    bad_code = client.get(CALLBACK, params={"code": "not-a-code", "state": state})
    assert bad_code.status_code == 502 and "WeCom did not confirm" in bad_code.text
    with app.db.session() as session:
        denied = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "access_denied")
            .order_by(col(AuditEvent.id))
        ).all()
    assert [(a.actor, a.details["via"]) for a in denied] == [
        ("wecom:stranger", "console_wecom_oauth")
    ]


def test_the_refusal_follows_the_persons_chat_language(
    app: App, fake: FakeWeChat, clock: FakeClock
) -> None:
    from storage.models import ChannelIdentity

    with app.db.transaction() as session:
        session.add(
            ChannelIdentity(platform="wecom", user_id="wang", chat_id="wang", language="zh")
        )
    client = client_for(app)
    state, _ = start(client)
    refused = client.get(CALLBACK, params={"code": fake.login_code("wang"), "state": state})
    assert refused.status_code == 403 and "没有任何 HR 角色" in refused.text


def test_in_app_mode_and_off_by_default(tmp_path: Path, clock: FakeClock, fake: FakeWeChat) -> None:
    inside = wecom_app(tmp_path / "a", None, clock, fake, work_oauth=True, work_oauth_mode="in_app")
    _, query = start(client_for(inside))
    assert query["_host"] == "open.weixin.qq.com" and query["scope"] == "snsapi_base"
    assert query["agentid"] == AGENT_ID and query["response_type"] == "code"
    inside.db.engine.dispose()
    off = wecom_app(tmp_path / "b", None, clock, fake)  # own SQLite files
    client = client_for(off)
    door = client.get("/console")
    assert door.status_code == 401 and "Sign in with WeCom" not in door.text
    assert client.get("/console/wecom/login", follow_redirects=False).status_code == 404
    assert client.get(CALLBACK, params={"code": "x", "state": "y"}).status_code == 404
    off.db.engine.dispose()


def test_wecom_sign_in_needs_the_wecom_application(tmp_path: Path) -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="wechat.work_oauth"):
        make_settings(tmp_path, None, wechat={"work_oauth": True})
