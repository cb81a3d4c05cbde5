"""Bad HTTP requests to every route: wrong methods, missing or forged parameters,
malformed, oversized or hostile bodies, wrong content types. Each must be answered with a
4xx status (never a 5xx) and store nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from web.app import SECRET_HEADER, TELEGRAM_WEBHOOK_PATH

SECRET = "corpus-webhook-secret-0123456789abcdef"
TG = TELEGRAM_WEBHOOK_PATH
OK_SECRET = {SECRET_HEADER: SECRET, "content-type": "application/json"}


@dataclass(frozen=True)
class HttpCase:
    surface: str
    kind: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    signed: str | None = None  # "wechat" or "wecom": add a valid signature for the body

    @property
    def id(self) -> str:
        return f"{self.surface}:{self.kind}"


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


XML_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i + 1} "{("&lol" + (str(i) if i else "") + ";") * 10}">'.encode()
        for i in range(9)
    )
    + b"]><xml><Content>&lol9;</Content></xml>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
    b"<MsgType>text</MsgType><Content>&e;</Content><MsgId>1</MsgId></xml>"
)
DEEP_XML = b"<xml>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</xml>"
TEXT_XML = (
    "<xml><ToUserName>gh</ToUserName><FromUserName>{user}</FromUserName>"
    "<CreateTime>{time}</CreateTime><MsgType>{type}</MsgType><Content>hi</Content>"
    "<MsgId>{msgid}</MsgId></xml>"
)

HTTP_CASES: list[HttpCase] = [
    # -- health and unknown paths
    HttpCase("/healthz", "post", "POST", "/healthz", b"{}"),
    HttpCase("/healthz", "delete", "DELETE", "/healthz"),
    HttpCase(
        "/healthz", "put-json", "PUT", "/healthz", b"{}", {"content-type": "application/json"}
    ),
    HttpCase("unknown path", "get", "GET", "/admin"),
    HttpCase("unknown path", "dotdot", "GET", "/../../etc/passwd"),
    HttpCase("unknown path", "encoded-nul", "GET", "/healthz%00"),
    HttpCase("unknown path", "very-long", "GET", "/" + "a" * 4000),
    HttpCase(
        "unknown path", "post-csv", "POST", "/elsewhere", b"a,b", {"content-type": "text/csv"}
    ),
    # -- Telegram webhook
    HttpCase("telegram", "get", "GET", TG),
    HttpCase("telegram", "no-secret", "POST", TG, _json({"update_id": 1})),
    HttpCase("telegram", "wrong-secret", "POST", TG, _json({"update_id": 1}), {SECRET_HEADER: "x"}),
    HttpCase(
        "telegram",
        "secret-prefix",
        "POST",
        TG,
        _json({"update_id": 1}),
        {SECRET_HEADER: SECRET[:-1]},
    ),
    HttpCase("telegram", "empty-body", "POST", TG, b"", OK_SECRET),
    HttpCase("telegram", "not-json", "POST", TG, b"{not json", OK_SECRET),
    HttpCase("telegram", "json-list", "POST", TG, b"[1, 2]", OK_SECRET),
    HttpCase("telegram", "json-null", "POST", TG, b"null", OK_SECRET),
    HttpCase("telegram", "update-id-string", "POST", TG, _json({"update_id": "1"}), OK_SECRET),
    HttpCase("telegram", "update-id-float", "POST", TG, _json({"update_id": 1.5}), OK_SECRET),
    HttpCase("telegram", "update-id-bool", "POST", TG, _json({"update_id": True}), OK_SECRET),
    HttpCase(
        "telegram",
        "update-id-25-digit",
        "POST",
        TG,
        b'{"update_id": ' + b"9" * 25 + b"}",
        OK_SECRET,
    ),
    HttpCase("telegram", "update-id-negative", "POST", TG, _json({"update_id": -5}), OK_SECRET),
    HttpCase(
        "telegram",
        "message-not-object",
        "POST",
        TG,
        _json({"update_id": 7001, "message": "hello"}),
        OK_SECRET,
    ),
    HttpCase(
        "telegram",
        "message-wrong-types",
        "POST",
        TG,
        _json({"update_id": 7002, "message": {"message_id": "x", "chat": [], "date": "now"}}),
        OK_SECRET,
    ),
    HttpCase("telegram", "deeply-nested", "POST", TG, b"[" * 100_000 + b"]" * 100_000, OK_SECRET),
    HttpCase(
        "telegram",
        "bom",
        "POST",
        TG,
        b"\xef\xbb\xbf" + _json({"update_id": 7003, "x": 1}) + b"garbage",
        OK_SECRET,
    ),
    HttpCase(
        "telegram", "latin1", "POST", TG, '{"update_id": "caf\xe9"}'.encode("latin-1"), OK_SECRET
    ),
    HttpCase("telegram", "nan", "POST", TG, b'{"update_id": NaN}', OK_SECRET),
    HttpCase("telegram", "too-large", "POST", TG, b"x" * 30_000, OK_SECRET),
    HttpCase(
        "telegram",
        "content-type-png",
        "POST",
        TG,
        _json({"update_id": 1}),
        {SECRET_HEADER: SECRET, "content-type": "image/png"},
    ),
    HttpCase(
        "telegram",
        "content-type-form",
        "POST",
        TG,
        b"update_id=1",
        {SECRET_HEADER: SECRET, "content-type": "application/x-www-form-urlencoded"},
    ),
    # -- WeChat Official Account callback
    HttpCase("wechat", "get-no-params", "GET", "/wechat/callback"),
    HttpCase(
        "wechat",
        "get-bad-signature",
        "GET",
        "/wechat/callback",
        params={"signature": "0" * 40, "timestamp": "1", "nonce": "n", "echostr": "e"},
    ),
    HttpCase(
        "wechat",
        "get-timestamp-word",
        "GET",
        "/wechat/callback",
        params={"signature": "x", "timestamp": "yesterday", "nonce": "n", "echostr": "e"},
    ),
    HttpCase(
        "wechat",
        "get-timestamp-25-digit",
        "GET",
        "/wechat/callback",
        params={"signature": "x", "timestamp": "9" * 25, "nonce": "n", "echostr": "e"},
    ),
    HttpCase(
        "wechat",
        "post-unsigned",
        "POST",
        "/wechat/callback",
        b"<xml/>",
        {"content-type": "text/xml"},
    ),
    HttpCase("wechat", "put", "PUT", "/wechat/callback", b"<xml/>", {"content-type": "text/xml"}),
    HttpCase(
        "wechat",
        "post-json",
        "POST",
        "/wechat/callback",
        b"{}",
        {"content-type": "application/json"},
    ),
    HttpCase(
        "wechat",
        "signed-not-xml",
        "POST",
        "/wechat/callback",
        b"hello",
        {"content-type": "text/xml"},
        signed="wechat",
    ),
    HttpCase(
        "wechat",
        "signed-empty",
        "POST",
        "/wechat/callback",
        b"",
        {"content-type": "text/xml"},
        signed="wechat",
    ),
    HttpCase(
        "wechat",
        "signed-xml-bomb",
        "POST",
        "/wechat/callback",
        XML_BOMB,
        {"content-type": "text/xml"},
        signed="wechat",
    ),
    HttpCase(
        "wechat",
        "signed-xxe",
        "POST",
        "/wechat/callback",
        XXE,
        {"content-type": "text/xml"},
        signed="wechat",
    ),
    HttpCase(
        "wechat",
        "signed-deep-xml",
        "POST",
        "/wechat/callback",
        DEEP_XML,
        {"content-type": "text/xml"},
        signed="wechat",
    ),
    HttpCase(
        "wechat",
        "signed-createtime-word",
        "POST",
        "/wechat/callback",
        TEXT_XML.format(user="o1", time="yesterday", type="text", msgid="1").encode(),
        {"content-type": "text/xml"},
        signed="wechat",
    ),
    HttpCase(
        "wechat",
        "signed-no-sender",
        "POST",
        "/wechat/callback",
        b"<xml><MsgType>text</MsgType><Content>hi</Content></xml>",
        {"content-type": "text/xml"},
        signed="wechat",
    ),
    HttpCase(
        "wechat",
        "aes-not-encrypted",
        "POST",
        "/wechat/callback",
        b"<xml><Encrypt>not-base64!</Encrypt></xml>",
        {"content-type": "text/xml"},
        params={"encrypt_type": "aes"},
        signed="wechat",
    ),
    HttpCase(
        "wechat",
        "too-large",
        "POST",
        "/wechat/callback",
        b"<xml>" + b"x" * 30_000,
        {"content-type": "text/xml"},
    ),
    # -- WeCom callback
    HttpCase("wecom", "get-no-params", "GET", "/wecom/callback"),
    HttpCase(
        "wecom",
        "get-bad-signature",
        "GET",
        "/wecom/callback",
        params={"msg_signature": "0" * 40, "timestamp": "1", "nonce": "n", "echostr": "e"},
    ),
    HttpCase(
        "wecom",
        "get-echostr-not-base64",
        "GET",
        "/wecom/callback",
        params={"msg_signature": "x", "timestamp": "1", "nonce": "n", "echostr": "%%%"},
    ),
    HttpCase(
        "wecom", "post-unsigned", "POST", "/wecom/callback", b"<xml/>", {"content-type": "text/xml"}
    ),
    HttpCase("wecom", "delete", "DELETE", "/wecom/callback"),
    HttpCase(
        "wecom", "post-json", "POST", "/wecom/callback", b"{}", {"content-type": "application/json"}
    ),
    HttpCase(
        "wecom",
        "signed-xml-bomb",
        "POST",
        "/wecom/callback",
        XML_BOMB,
        {"content-type": "text/xml"},
        signed="wecom",
    ),
    HttpCase(
        "wecom",
        "signed-encrypt-garbage",
        "POST",
        "/wecom/callback",
        b"<xml><Encrypt>AAAA</Encrypt></xml>",
        {"content-type": "text/xml"},
        signed="wecom",
    ),
    HttpCase(
        "wecom",
        "signed-not-xml",
        "POST",
        "/wecom/callback",
        b"\x00\x01\x02",
        {"content-type": "text/xml"},
        signed="wecom",
    ),
    # -- contract signing pages (no such link)
    HttpCase("/sign/{token}", "unknown-token", "GET", "/sign/not-a-token"),
    HttpCase("/sign/{token}", "too-long-token", "GET", "/sign/" + "t" * 3000),
    HttpCase("/sign/{token}", "nul-token", "GET", "/sign/abc%00def"),
    HttpCase("/sign/{token}", "sql-token", "GET", "/sign/%27%20OR%201%3D1--"),
    HttpCase("/sign/{token}", "emoji-token", "GET", "/sign/%F0%9F%99%82"),
    HttpCase("/sign/{token}", "put", "PUT", "/sign/abc", b"x", {"content-type": "text/plain"}),
    HttpCase(
        "/sign/{token}", "lang-param", "GET", "/sign/not-a-token", params={"lang": "<script>"}
    ),
    HttpCase(
        "/sign/{token}/code/send",
        "unknown-token",
        "POST",
        "/sign/not-a-token/code/send",
        b"",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    HttpCase("/sign/{token}/code/send", "get", "GET", "/sign/not-a-token/code/send"),
    HttpCase(
        "/sign/{token}/code",
        "unknown-token",
        "POST",
        "/sign/not-a-token/code",
        b"code=123456",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    HttpCase(
        "/sign/{token}/code",
        "json-body",
        "POST",
        "/sign/not-a-token/code",
        b'{"code": "123456"}',
        {"content-type": "application/json"},
    ),
    HttpCase(
        "/sign/{token}/code",
        "fullwidth-code",
        "POST",
        "/sign/not-a-token/code",
        "code=１２３４５６".encode(),
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    HttpCase("/sign/{token}/page/{n}.png", "unknown-token", "GET", "/sign/not-a-token/page/1.png"),
    HttpCase(
        "/sign/{token}/page/{n}.png",
        "page-25-digit",
        "GET",
        "/sign/not-a-token/page/" + "9" * 25 + ".png",
    ),
    HttpCase("/sign/{token}/page/{n}.png", "page-negative", "GET", "/sign/not-a-token/page/-1.png"),
    HttpCase("/sign/{token}/page/{n}.png", "page-word", "GET", "/sign/not-a-token/page/one.png"),
    HttpCase(
        "/sign/{token}/contract.pdf", "unknown-token", "GET", "/sign/not-a-token/contract.pdf"
    ),
    HttpCase(
        "/sign/{token}/contract.pdf",
        "post",
        "POST",
        "/sign/not-a-token/contract.pdf",
        b"",
        {"content-type": "application/pdf"},
    ),
    HttpCase(
        "/sign/{token}/sign",
        "unknown-token",
        "POST",
        "/sign/not-a-token/sign",
        b"signature=data%3Aimage%2Fpng%3Bbase64%2CAAAA",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    HttpCase(
        "/sign/{token}/sign",
        "multipart-garbage",
        "POST",
        "/sign/not-a-token/sign",
        b'--x\r\nContent-Disposition: form-data; name="signature"\r\n\r\n\x00\x01\r\n',
        {"content-type": "multipart/form-data; boundary=x"},
    ),
    HttpCase(
        "/sign/{token}/sign",
        "too-large",
        "POST",
        "/sign/not-a-token/sign",
        b"signature=" + b"A" * 30_000,
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    HttpCase(
        "/sign/{token}/decline",
        "unknown-token",
        "POST",
        "/sign/not-a-token/decline",
        b"reason=" + "不".encode() * 3000,
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    HttpCase("/sign/{token}/decline", "get", "GET", "/sign/not-a-token/decline"),
    HttpCase("/sign/static/{name}", "traversal", "GET", "/sign/static/../../config.toml"),
    HttpCase(
        "/sign/static/{name}", "encoded-traversal", "GET", "/sign/static/..%2F..%2Fconfig.toml"
    ),
    HttpCase("/sign/static/{name}", "unknown-file", "GET", "/sign/static/nope.js"),
    HttpCase(
        "/sign/static/{name}",
        "post",
        "POST",
        "/sign/static/signing_pad.js",
        b"x",
        {"content-type": "text/plain"},
    ),
]
