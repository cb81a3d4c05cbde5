"""WeChat safe mode that cannot be bypassed, and signed callbacks that cannot be replayed.

Someone who saw one callback URL (a proxy log, port 80) holds a valid (timestamp, nonce,
signature) for five minutes. With an EncodingAESKey set, only encrypted callbacks are
accepted (the plain ``signature`` does not cover the body); a triple is accepted once:
the same body again is WeChat retrying (``success``, stored once), another body is 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.models import Candidate, InboxEvent, KeyValue
from tests.fakes.wechat_api import FakeWeChat, Harness, invite, make_harness, seed_job

OPENID = "oReplay00000000000000000001"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


async def _harness(tmp_path: Path, fake: FakeWeChat, db_url: str, **kw: object) -> Harness:
    return await make_harness(tmp_path, fake, db_url=db_url, **kw)


@pytest.fixture
async def h(tmp_path: Path, fake: FakeWeChat, db_url: str) -> AsyncIterator[Harness]:
    """An Official Account with an EncodingAESKey (safe mode)."""
    harness = await _harness(tmp_path, fake, db_url)
    yield harness
    await harness.tasks.drain()
    await harness.http.aclose()
    harness.app.db.engine.dispose()


@pytest.fixture
async def plain(tmp_path: Path, fake: FakeWeChat, db_url: str) -> AsyncIterator[Harness]:
    """An Official Account in plaintext mode (no EncodingAESKey configured)."""
    harness = await _harness(tmp_path, fake, db_url, aes_key=None)
    harness.cb.mode = "plain"
    yield harness
    await harness.tasks.drain()
    await harness.http.aclose()
    harness.app.db.engine.dispose()


def inbox(h: Harness) -> list[str]:
    with h.app.db.session() as session:
        return list(session.exec(select(InboxEvent.event_id)).all())


async def test_with_a_key_set_a_plaintext_callback_is_refused(h: Harness) -> None:
    """The forged /deleteme of the report: plaintext XML, a valid plain signature."""
    for mode in ("plain",):
        h.cb.mode = mode
        params, body = h.cb.request(h.cb.text(OPENID, "/deleteme"))
        response = await h.http.post("/wechat/callback", params=params, content=body)
        assert response.status_code == 403
        # encrypt_type present but not "aes", or in another case: still plaintext
        for other in ("AES ", "raw", "", "aes2"):
            response = await h.http.post(
                "/wechat/callback", params={**params, "encrypt_type": other}, content=body
            )
            assert response.status_code == 403, other
    await h.settle()
    assert inbox(h) == []
    assert h.fake.texts_to(OPENID) == []
    # encrypted callbacks (safe and compatible mode) still work
    for mode in ("safe", "compatible"):
        assert (await h.post(h.cb.text(OPENID, f"hello {mode}"), mode=mode)).text == "success"
    await h.settle()
    assert len(inbox(h)) == 2


async def test_a_forged_scan_cannot_claim_an_invitation(h: Harness) -> None:
    job_id = seed_job(h.app)
    _, token, _code = invite(h.app, job_id, "Tom Baker")
    h.cb.mode = "plain"
    params, body = h.cb.request(h.cb.event(OPENID, "SCAN", token))
    assert (await h.http.post("/wechat/callback", params=params, content=body)).status_code == 403
    await h.settle()
    with h.app.db.session() as session:
        assert session.exec(select(Candidate.status)).all() == ["invited"]


async def test_a_retry_of_the_same_callback_is_stored_once(h: Harness) -> None:
    params, body = h.cb.request(h.cb.text(OPENID, "hello", msg_id=42))
    for _ in range(3):
        response = await h.http.post("/wechat/callback", params=params, content=body)
        assert (response.status_code, response.text) == (200, "success")
    await h.settle()
    assert inbox(h) == ["wechat:msg:42"]
    assert len(h.fake.texts_to(OPENID)) == 1


async def test_a_seen_signature_with_another_body_is_refused(plain: Harness) -> None:
    h = plain
    params, body = h.cb.request(h.cb.text(OPENID, "hello", msg_id=1))
    assert (await h.http.post("/wechat/callback", params=params, content=body)).text == "success"
    # Same timestamp, nonce and signature, another message (the plain signature does not
    # cover the body): a forgery riding on a seen signature.
    forged = h.cb.text("oVictim0000000000000000001", "/deleteme", msg_id=2)
    response = await h.http.post("/wechat/callback", params=params, content=forged.encode())
    assert response.status_code == 403
    # a retry of the original is still fine
    assert (await h.http.post("/wechat/callback", params=params, content=body)).text == "success"
    await h.settle()
    assert inbox(h) == ["wechat:msg:1"]


async def test_without_a_key_plaintext_callbacks_still_work(plain: Harness) -> None:
    assert (await plain.post(plain.cb.text(OPENID, "hello"))).text == "success"
    await plain.settle()
    assert len(inbox(plain)) == 1


async def test_the_guard_remembers_for_the_whole_window_then_forgets(plain: Harness) -> None:
    h = plain
    params, body = h.cb.request(h.cb.text(OPENID, "hello", msg_id=7))
    await h.http.post("/wechat/callback", params=params, content=body)
    other = h.cb.text(OPENID, "other", msg_id=8).encode()
    h.app.services.clock.advance(minutes=4)  # type: ignore[attr-defined]
    h.cb.now += 240
    assert (await h.http.post("/wechat/callback", params=params, content=other)).status_code == 403
    with h.app.db.session() as session:
        rows = session.exec(select(KeyValue).where(col(KeyValue.key).startswith("replay:"))).all()
    assert len(rows) == 1 and rows[0].value != body.decode()  # a digest, not the message


async def test_wecom_callbacks_are_guarded_the_same_way(h: Harness) -> None:
    params, body = h.cb.work_request(h.cb.card_click("hr_li", "task-1", "dec:1:a", "code-1"))
    for _ in range(2):
        response = await h.http.post("/wecom/callback", params=params, content=body)
        assert response.status_code == 200
    other_params, other_body = h.cb.work_request(
        h.cb.card_click("hr_li", "task-2", "dec:1:r", "code-2")
    )
    response = await h.http.post("/wecom/callback", params=params, content=other_body)
    assert response.status_code == 403  # another body under a seen triple (bad signature too)
    await h.settle()
    assert len(inbox(h)) == 1
    assert other_params != params


@pytest.mark.parametrize(
    "timestamp",
    ["²", "１７６７６０００００", "1" * 400, "-1", " 1", "1e9", "", "0x10", "١٢٣"],
)
async def test_odd_timestamps_are_refused_not_errors(h: Harness, timestamp: str) -> None:
    params, body = h.cb.request(h.cb.text(OPENID, "hello"))
    for path in ("/wechat/callback", "/wecom/callback"):
        response = await h.http.post(path, params={**params, "timestamp": timestamp}, content=body)
        assert response.status_code == 403, (path, timestamp)
        got = await h.http.get(path, params={**params, "timestamp": timestamp, "echostr": "e"})
        assert got.status_code in (400, 403), (path, timestamp)
    assert inbox(h) == []


def _nested(depth: int, inner: str = "x") -> str:
    return "<a>" * depth + inner + "</a>" * depth


@pytest.mark.parametrize(
    "xml",
    [
        # a field nested too deep for Python to print (RecursionError in str())
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{OPENID}</FromUserName>"
        f"<CreateTime>1767600000</CreateTime><MsgType>text</MsgType>"
        f"<Content>{_nested(5000)}</Content><MsgId>5</MsgId></xml>",
        f"<xml><FromUserName>{OPENID}</FromUserName><CreateTime>1767600000</CreateTime>"
        f"<MsgType>event</MsgType><Event>SCAN</Event><EventKey>{_nested(5000)}</EventKey></xml>",
        f"<xml><FromUserName>{OPENID}</FromUserName><CreateTime>1767600000</CreateTime>"
        f"<MsgType>text</MsgType><MsgId>{_nested(5000)}</MsgId></xml>",
        f"<xml>{_nested(20000)}</xml>",
        _nested(20000),
    ],
    ids=["content", "event-key", "msg-id", "root", "no-xml-root"],
)
async def test_deeply_nested_xml_in_a_signed_callback_is_a_bad_request(
    h: Harness, xml: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed and encrypted, so only the content is wrong: 400, never a 500 or a traceback."""
    params, body = h.cb.request(xml)
    response = await h.http.post("/wechat/callback", params=params, content=body)
    assert response.status_code == 400
    work_xml = xml.replace(OPENID, "hr_li")
    params, body = h.cb.work_request(work_xml)
    response = await h.http.post("/wecom/callback", params=params, content=body)
    assert response.status_code == 400
    await h.settle()
    assert inbox(h) == []
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]


@pytest.mark.parametrize("name", ["timestamp", "nonce", "signature", "msg_signature", "echostr"])
async def test_a_duplicated_query_parameter_is_a_bad_request(h: Harness, name: str) -> None:
    """Which of two values would be checked is the server's choice: refuse the request."""
    params, body = h.cb.request(h.cb.text(OPENID, "hello"))
    work_params, work_body = h.cb.work_request(h.cb.text("hr_li", "hello"))
    for path, signed, content in (
        ("/wechat/callback", params, body),
        ("/wecom/callback", work_params, work_body),
    ):
        query = [(k, v) for k, v in signed.items() if k != name]
        twice = [*query, (name, "junk"), (name, signed.get(name, "echo"))]  # the last is valid
        response = await h.http.post(path, params=twice, content=content)
        assert response.status_code == 400, (path, name)
        got = await h.http.get(path, params=[*twice, ("echostr", "e")])
        assert got.status_code == 400, (path, name)
    await h.settle()
    assert inbox(h) == []


async def test_url_verification_with_a_stale_timestamp_is_refused(h: Harness) -> None:
    params, _ = h.cb.request("<xml/>")
    h.app.services.clock.advance(hours=2)  # type: ignore[attr-defined]
    query = {k: params[k] for k in ("timestamp", "nonce", "signature")}
    response = await h.http.get("/wechat/callback", params={**query, "echostr": "echo-1"})
    assert response.status_code == 403


@pytest.mark.parametrize("length", ["²".encode("latin-1"), b"9" * 5000, "١٢".encode()])
async def test_an_odd_content_length_is_refused_not_an_error(h: Harness, length: bytes) -> None:
    """The routes read the body themselves (no body-limit middleware in front here)."""
    params, body = h.cb.request(h.cb.text(OPENID, "hello"))
    for path in ("/wechat/callback", "/wecom/callback"):
        response = await h.http.post(
            path, params=params, content=body, headers={"content-length": length}
        )
        assert 400 <= response.status_code < 500, (path, response.status_code)
    assert inbox(h) == []
