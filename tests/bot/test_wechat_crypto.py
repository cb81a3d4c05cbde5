"""Tencent's official crypto sample vectors decrypt and verify with our parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto
from wechatpy.exceptions import InvalidSignatureException

from bot.wechat import event_id_for, parse_xml, to_incoming
from dialogs.kernel.events import TextReceived
from web.wechat_routes import signature_ok

FIXTURES = Path(__file__).parents[1] / "fixtures" / "wechat"


def _load(name: str) -> dict[str, object]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _oa_body(v: dict[str, object]) -> str:
    return f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{v['encrypt']}]]></Encrypt></xml>"


def test_official_account_vector_decrypts_and_maps_to_an_event() -> None:
    v = _load("official_account.json")
    crypto = WeChatCrypto(v["token"], v["encoding_aes_key"], v["app_id"])
    xml = crypto.decrypt_message(_oa_body(v), v["msg_signature"], v["timestamp"], v["nonce"])
    fields = parse_xml(xml)
    expected = v["expected"]
    assert isinstance(expected, dict)
    for key, value in expected.items():
        assert fields[key] == value
    inc = to_incoming(fields, menus=None)
    assert inc is not None
    assert isinstance(inc.event, TextReceived)
    assert inc.event.text == "abcdteT"
    assert inc.event.event_id == "wechat:msg:6054768590064713728" == event_id_for(fields)
    assert inc.event.user_id == inc.event.chat_id == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


def test_official_account_vector_refuses_a_changed_signature_or_nonce() -> None:
    v = _load("official_account.json")
    crypto = WeChatCrypto(v["token"], v["encoding_aes_key"], v["app_id"])
    with pytest.raises(InvalidSignatureException):
        crypto.decrypt_message(_oa_body(v), "0" * 40, v["timestamp"], v["nonce"])
    with pytest.raises(InvalidSignatureException):
        crypto.decrypt_message(_oa_body(v), v["msg_signature"], v["timestamp"], "1320562133")


def test_wecom_url_verification_vector() -> None:
    v = _load("wecom.json")
    check = v["verify_url"]
    assert isinstance(check, dict)
    crypto = WorkCrypto(v["token"], v["encoding_aes_key"], v["corp_id"])
    echo = crypto.check_signature(
        check["msg_signature"], check["timestamp"], check["nonce"], check["echostr"]
    )
    assert str(echo) == check["expected"]
    with pytest.raises(InvalidSignatureException):
        crypto.check_signature(
            check["msg_signature"], check["timestamp"], "263014781", check["echostr"]
        )


def test_wecom_message_vector_decrypts() -> None:
    v = _load("wecom.json")
    m = v["message"]
    assert isinstance(m, dict)
    crypto = WorkCrypto(v["token"], v["encoding_aes_key"], v["corp_id"])
    body = (
        f"<xml><ToUserName><![CDATA[{v['corp_id']}]]></ToUserName><Encrypt><![CDATA[{m['encrypt']}]]></Encrypt>"
        f"<AgentID><![CDATA[{m['agent_id']}]]></AgentID></xml>"
    )
    fields = parse_xml(crypto.decrypt_message(body, m["msg_signature"], m["timestamp"], m["nonce"]))
    assert fields == m["expected"]


def test_plaintext_signature_check() -> None:
    # sha1 of the sorted token, timestamp and nonce, as WeChat's documentation computes it.
    import hashlib

    expected = hashlib.sha1(
        "".join(sorted(["spamtest", "1409735669", "1320562132"])).encode()
    ).hexdigest()
    assert signature_ok("spamtest", expected, "1409735669", "1320562132")
    assert signature_ok("spamtest", expected.upper(), "1409735669", "1320562132")
    assert not signature_ok("spamtest", expected, "1409735669", "1320562131")
    assert not signature_ok("spamtest", "", "1409735669", "1320562132")


def test_non_ascii_signature_is_refused_not_an_error() -> None:
    assert not signature_ok("spamtest", "签名", "1409735669", "1320562132")
    assert not signature_ok("spamtest", "\x80" * 40, "1409735669", "1320562132")
