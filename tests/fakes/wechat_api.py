"""A fake WeChat Official Account + WeCom API on 127.0.0.1 for tests.

Point the clients at ``server.base_url`` (``.../cgi-bin/``): settings
``wechat.api_base_url`` and ``wechat.work_api_base_url``, and the group robot at
``server.robot_url``. Every call is recorded in ``server.calls``. Knobs:

* ``out_of_window``: openids whose customer-service messages fail with 45015;
* ``fail_next(path, errcode)``: the next call of ``path`` answers that errcode;
* ``invalidate_tokens()``: every token issued so far answers 40001 from now on;
* ``voices[media_id] = bytes`` (served as AMR), ``videos[media_id] = bytes``
  (``media/get`` answers JSON with a ``video_url``);
* ``login_code(userid)``: a WeCom OAuth code that ``auth/getuserinfo`` answers once
  (``userid=None``: a visitor who is not a member, answered with an ``openid``);
* ``authorize_url``: WeCom's authorize page, which signs ``signs_in_as`` in at once:
  it redirects to ``redirect_uri`` with a new code and the ``state``.

Also helpers to set up an app for WeChat tests: settings, a job, an invitation, and
signed/encrypted callbacks.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import qrcode
from sqlmodel import col, select
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto

from app.wiring import App
from core.settings import Settings, load_settings
from dialogs.invitations.invites import invite_candidate
from storage.models import Job, JobQuestion, Question

OA_TOKEN = "cb-token-for-tests"
OA_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OA_APP_ID = "wx2c2769f8efd9abc2"
WORK_TOKEN = "QDG6eK"
WORK_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"
AGENT_ID = "1000002"


@dataclass
class Call:
    method: str
    path: str  # without the /cgi-bin/ prefix, e.g. "message/custom/send"
    query: dict[str, str]
    json: Any = None
    body: bytes = b""


@dataclass
class FakeWeChat:
    calls: list[Call] = field(default_factory=list)
    out_of_window: set[str] = field(default_factory=set)
    voices: dict[str, bytes] = field(default_factory=dict)
    videos: dict[str, bytes] = field(default_factory=dict)
    media_delay: float = 0.0  # seconds media/get takes (slow downloads)
    tokens_issued: int = 0
    work_tokens_issued: int = 0
    port: int = 0
    _valid: set[str] = field(default_factory=set)
    _failures: dict[str, list[int]] = field(default_factory=dict)
    _codes: set[str] = field(default_factory=set)
    _logins: dict[str, str | None] = field(default_factory=dict)
    signs_in_as: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> FakeWeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def start_in_process(self) -> FakeWeChat:
        """Run the server in a child process (no GIL shared with the code under test).

        Calls are not recorded on this side; for load measurements.
        """
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve_child, args=(child,), daemon=True)
        self._process.start()
        self.port = int(parent.recv())
        return self

    def stop(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None:
            process.terminate()
            process.join(5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/cgi-bin/"

    @property
    def authorize_url(self) -> str:
        return f"{self.root}/wwlogin/sso/login"

    @property
    def robot_url(self) -> str:
        return f"{self.base_url}webhook/send?key=hr-robot"

    # -- knobs -------------------------------------------------------------
    def fail_next(self, path: str, errcode: int) -> None:
        with self._lock:
            self._failures.setdefault(path, []).append(errcode)

    def login_code(self, userid: str | None) -> str:
        code = f"login-{next(self._ids)}-{secrets.token_hex(4)}"
        with self._lock:
            self._logins[code] = userid
        return code

    def invalidate_tokens(self) -> None:
        with self._lock:
            self._valid.clear()

    def of(self, path: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path == path]

    def texts_to(self, openid: str) -> list[str]:
        return [
            c.json["text"]["content"]
            for c in self.of("message/custom/send")
            if c.json.get("touser") == openid and c.json.get("msgtype") == "text"
        ]

    # -- HTTP --------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urllib.parse.urlsplit(req.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        data: Any = None
        if (
            body
            and (req.headers.get("Content-Type") or "").startswith("application/json")
            or body[:1] in (b"{", b"[")
        ):
            try:
                data = json.loads(body)
            except ValueError:
                data = None
        path = parts.path.removeprefix("/cgi-bin/").lstrip("/")
        with self._lock:
            self.calls.append(Call(method, path, query, data, body))
        if parts.path == "/wwlogin/sso/login":  # the person confirms on WeCom's page
            back = query.get("redirect_uri", "")
            code = self.login_code(self.signs_in_as)
            target = back + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
            req.send_response(302)
            req.send_header("Location", target)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        status, payload, ctype = self._answer(method, path, query, data)
        raw = (
            payload
            if isinstance(payload, bytes)
            else json.dumps(payload, ensure_ascii=False).encode()
        )
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(raw)))
        req.end_headers()
        req.wfile.write(raw)

    def _token_ok(self, query: dict[str, str]) -> bool:
        with self._lock:
            return query.get("access_token", "") in self._valid

    def _failure(self, path: str) -> int | None:
        with self._lock:
            queue = self._failures.get(path)
            return queue.pop(0) if queue else None

    def _answer(
        self, method: str, path: str, query: dict[str, str], data: Any
    ) -> tuple[int, Any, str]:
        js = "application/json"
        if path == "token":
            with self._lock:
                self.tokens_issued += 1
                token = f"oa-token-{self.tokens_issued}-{secrets.token_hex(4)}"
                self._valid.add(token)
            return 200, {"access_token": token, "expires_in": 7200}, js
        if path == "gettoken":
            with self._lock:
                self.work_tokens_issued += 1
                token = f"work-token-{self.work_tokens_issued}-{secrets.token_hex(4)}"
                self._valid.add(token)
            return (
                200,
                {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200},
                js,
            )
        if path.startswith("video/"):
            media = self.videos.get(path.removeprefix("video/"))
            return (
                (200, media, "video/mp4")
                if media is not None
                else (404, {"error": "not found"}, js)
            )
        if path == "showqrcode":
            image = qrcode.make(query.get("ticket", ""), box_size=4, border=1)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return 200, buffer.getvalue(), "image/png"
        if path.startswith("webhook/"):
            if not query.get("key", "").startswith("hr-robot"):  # hr-robot, hr-robot-2 ...
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, js
            if path == "webhook/upload_media":
                return (
                    200,
                    {
                        "errcode": 0,
                        "errmsg": "ok",
                        "type": "file",
                        "media_id": f"robot-media-{next(self._ids)}",
                    },
                    js,
                )
            return 200, {"errcode": 0, "errmsg": "ok"}, js
        if not self._token_ok(query):
            return (
                200,
                {
                    "errcode": 40001,
                    "errmsg": "invalid credential, access_token is invalid or not latest",
                },
                js,
            )
        failure = self._failure(path)
        if failure is not None:
            return 200, {"errcode": failure, "errmsg": f"fake failure {failure}"}, js
        if path == "auth/getuserinfo":
            with self._lock:
                if query.get("code") not in self._logins:
                    return 200, {"errcode": 40029, "errmsg": "invalid code"}, js
                userid = self._logins.pop(query["code"])
            if userid is None:
                return 200, {"errcode": 0, "errmsg": "ok", "openid": "o-visitor"}, js
            return 200, {"errcode": 0, "errmsg": "ok", "userid": userid, "user_ticket": "t"}, js
        if path == "message/custom/send":
            if data and data.get("touser") in self.out_of_window:
                return (
                    200,
                    {
                        "errcode": 45015,
                        "errmsg": "response out of time limit or subscription is canceled",
                    },
                    js,
                )
            return 200, {"errcode": 0, "errmsg": "ok"}, js
        if path == "message/template/send":
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": next(self._ids)}, js
        if path == "media/get":
            time.sleep(self.media_delay)
            media_id = query.get("media_id", "")
            if media_id in self.voices:
                return 200, self.voices[media_id], "audio/amr"
            if media_id in self.videos:
                return 200, {"video_url": f"{self.root}/video/{media_id}"}, js
            return 200, {"errcode": 40007, "errmsg": "invalid media_id"}, js
        if path == "media/upload":
            return (
                200,
                {
                    "type": query.get("type", "image"),
                    "media_id": f"up-{next(self._ids)}",
                    "created_at": int(time.time()),
                },
                js,
            )
        if path == "qrcode/create":
            scene = (data or {}).get("action_info", {}).get("scene", {}).get("scene_str", "")
            return (
                200,
                {
                    "ticket": f"TICKET-{scene}",
                    "expire_seconds": (data or {}).get("expire_seconds", 60),
                    "url": f"http://weixin.qq.com/q/{scene}",
                },
                js,
            )
        if path == "message/send":
            answer: dict[str, Any] = {
                "errcode": 0,
                "errmsg": "ok",
                "invaliduser": "",
                "msgid": f"msg-{next(self._ids)}",
            }
            if data and data.get("msgtype") == "template_card":
                code = f"send-code-{next(self._ids)}"
                with self._lock:
                    self._codes.add(code)
                answer["response_code"] = code
            return 200, answer, js
        if path == "message/update_template_card":
            code = (data or {}).get("response_code", "")
            with self._lock:
                if code not in self._codes:
                    return 200, {"errcode": 40058, "errmsg": "invalid response_code"}, js
                self._codes.discard(code)
            return 200, {"errcode": 0, "errmsg": "ok", "invaliduser": []}, js
        return 404, {"errcode": 404, "errmsg": f"fake has no {path}"}, js

    def issue_response_code(self) -> str:
        """A code as a template_card_event callback would carry it."""
        code = f"click-code-{next(self._ids)}"
        with self._lock:
            self._codes.add(code)
        return code


def _serve_child(conn: Any) -> None:
    fake = FakeWeChat().start()
    conn.send(fake.port)
    while True:
        time.sleep(3600)


# ------------------------------------------------------------------ app helpers
def wechat_settings(
    tmp: Path,
    fake: FakeWeChat,
    *,
    template_id: str | None = None,
    db_url: str | None = None,
    aes_key: str | None = OA_AES_KEY,
    official_account: bool = True,
    **web: Any,
) -> Settings:
    """The Official Account (candidates; off with ``official_account=False``) and WeCom (HR)."""
    settings = load_settings(
        None,
        env={},
        overrides={
            "app": {"data_dir": str(tmp / "data"), "default_language": "zh"},
            "database": {"url": db_url or f"sqlite:///{tmp / 'db.sqlite3'}"},
            "security": {"key_file": str(tmp / "keys" / "data.key")},
            "wechat": {
                "enabled": official_account,
                "app_id": OA_APP_ID,
                "app_secret": "oa-app-secret-value",
                "token": OA_TOKEN,
                "aes_key": aes_key,
                "template_id": template_id,
                "api_base_url": fake.base_url,
                "work_enabled": True,
                "corp_id": CORP_ID,
                "corp_secret": "work-secret-value",
                "agent_id": AGENT_ID,
                "work_token": WORK_TOKEN,
                "work_aes_key": WORK_AES_KEY,
                "robot_webhook": fake.robot_url,
                "work_api_base_url": fake.base_url,
            },
            "roles": {"admins": ["console:admin"], "hr_managers": ["wecom:hr_li"]},
            "web": web or {},
        },
    )
    return settings


def seed_job(app: App, *, code: str = "sales-2026", questions: int = 2) -> int:
    with app.db.transaction() as session:
        job = Job(
            code=code,
            title_zh="销售代表",
            title_en="Sales representative",
            competencies=[{"name": "communication", "weight": 100}],
            pass_line=70,
        )
        session.add(job)
        session.flush()
        picked = session.exec(select(Question).order_by(col(Question.key)).limit(questions)).all()
        for position, question in enumerate(picked):
            session.add(
                JobQuestion(job_id=job.id or 0, question_id=question.id or 0, position=position)
            )
        return job.id or 0


def invite(app: App, job_id: int, name: str) -> tuple[int, str, str]:
    """(candidate id, invitation token, identity code)."""
    with app.db.transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        new = invite_candidate(session, app.settings, job, name=name, now=app.services.clock.now())
        return new.candidate.id or 0, new.token, new.code


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


@dataclass
class Callbacks:
    """Builds signed (and, in safe mode, encrypted) callback requests like WeChat's."""

    now: float
    mode: str = "safe"  # plain | compatible | safe
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(7_000_000_000_000_000_000))

    def next_id(self) -> int:
        return next(self._ids)

    @staticmethod
    def xml(fields: dict[str, Any]) -> str:
        body = "".join(
            f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
            for k, v in fields.items()
        )
        return f"<xml>{body}</xml>"

    def text(self, openid: str, content: str, *, msg_id: int | None = None) -> str:
        return self.xml(
            {
                "ToUserName": "gh_test",
                "FromUserName": openid,
                "CreateTime": int(self.now),
                "MsgType": "text",
                "Content": content,
                "MsgId": msg_id or self.next_id(),
            }
        )

    def voice(self, openid: str, media_id: str, *, fmt: str = "amr") -> str:
        return self.xml(
            {
                "ToUserName": "gh_test",
                "FromUserName": openid,
                "CreateTime": int(self.now),
                "MsgType": "voice",
                "MediaId": media_id,
                "Format": fmt,
                "MsgId": self.next_id(),
            }
        )

    def video(self, openid: str, media_id: str, *, kind: str = "shortvideo") -> str:
        return self.xml(
            {
                "ToUserName": "gh_test",
                "FromUserName": openid,
                "CreateTime": int(self.now),
                "MsgType": kind,
                "MediaId": media_id,
                "ThumbMediaId": "thumb",
                "MsgId": self.next_id(),
            }
        )

    def event(self, openid: str, name: str, key: str = "", *, created: int | None = None) -> str:
        fields: dict[str, Any] = {
            "ToUserName": "gh_test",
            "FromUserName": openid,
            "CreateTime": created or int(self.now),
            "MsgType": "event",
            "Event": name,
        }
        if key:
            fields["EventKey"] = key
        return self.xml(fields)

    def request(self, xml: str, *, nonce: str | None = None) -> tuple[dict[str, str], bytes]:
        """(query parameters, body) of an Official Account callback in ``mode``."""
        nonce = nonce or secrets.token_hex(5)
        timestamp = str(int(self.now))
        params = {
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": _sign(OA_TOKEN, timestamp, nonce),
            "openid": "x",
        }
        if self.mode == "plain":
            return params, xml.encode()
        crypto = WeChatCrypto(OA_TOKEN, OA_AES_KEY, OA_APP_ID)
        wrapped = crypto.encrypt_message(xml, nonce, timestamp)
        encrypt = wrapped.split("<Encrypt><![CDATA[", 1)[1].split("]]></Encrypt>", 1)[0]
        params.update(
            {"encrypt_type": "aes", "msg_signature": _sign(OA_TOKEN, timestamp, nonce, encrypt)}
        )
        if self.mode == "compatible":
            inner = xml.removeprefix("<xml>").removesuffix("</xml>")
            return params, f"<xml>{inner}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
        return (
            params,
            f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode(),
        )

    def work_request(self, xml: str) -> tuple[dict[str, str], bytes]:
        """(query parameters, body) of a WeCom callback (always encrypted)."""
        nonce = secrets.token_hex(5)
        timestamp = str(int(self.now))
        crypto = WorkCrypto(WORK_TOKEN, WORK_AES_KEY, CORP_ID)
        wrapped = crypto.encrypt_message(xml, nonce, timestamp)
        encrypt = wrapped.split("<Encrypt><![CDATA[", 1)[1].split("]]></Encrypt>", 1)[0]
        params = {
            "timestamp": timestamp,
            "nonce": nonce,
            "msg_signature": _sign(WORK_TOKEN, timestamp, nonce, encrypt),
        }
        return (
            params,
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>".encode(),
        )

    def card_click(self, user: str, task_id: str, key: str, code: str) -> str:
        return self.xml(
            {
                "ToUserName": CORP_ID,
                "FromUserName": user,
                "CreateTime": int(self.now),
                "MsgType": "event",
                "Event": "template_card_event",
                "EventKey": key,
                "TaskId": task_id,
                "CardType": "button_interaction",
                "ResponseCode": code,
                "AgentID": int(AGENT_ID),
            }
        )


# ------------------------------------------------------------------ a whole test set-up
@dataclass
class Harness:
    """App + fake API + the callback routes in a small Starlette app, driven in-process."""

    app: App
    fake: FakeWeChat
    cb: Callbacks
    http: Any  # httpx.AsyncClient on the ASGI app
    tasks: Any  # web.wechat_routes.CallbackTasks
    wechat: Any  # bot.wechat.WeChatChannel
    wecom: Any  # bot.wecom.WeComChannel

    async def post(self, xml: str, *, mode: str | None = None) -> Any:
        if mode is not None:
            self.cb.mode = mode
        params, body = self.cb.request(xml)
        return await self.http.post("/wechat/callback", params=params, content=body)

    async def post_work(self, xml: str) -> Any:
        params, body = self.cb.work_request(xml)
        return await self.http.post("/wecom/callback", params=params, content=body)

    async def settle(self) -> None:
        """Finish background work and deliver the outbox."""
        dispatcher = self.app.dispatcher()
        for _ in range(5):
            await self.tasks.drain()
            await dispatcher.drain()
        await self.tasks.drain()

    async def say(self, openid: str, text: str) -> str:
        """Send a text as the candidate; returns everything the bot sent back, joined."""
        before = len(self.fake.texts_to(openid))
        response = await self.post(self.cb.text(openid, text))
        assert response.status_code == 200
        assert response.text == "success"
        await self.settle()
        return "\n---\n".join(self.fake.texts_to(openid)[before:])


async def make_harness(tmp: Path, fake: FakeWeChat, **settings_kw: Any) -> Harness:
    import httpx
    from starlette.applications import Starlette

    from app.wiring import build_app
    from bot.wechat import build_wechat
    from bot.wecom import build_wecom
    from core.clock import FakeClock
    from web.wechat_routes import CallbackTasks, wechat_routes

    settings = wechat_settings(tmp, fake, **settings_kw)
    clock = FakeClock()
    app = build_app(settings, clock=clock)
    wechat = build_wechat(app)
    wecom = build_wecom(app)
    tasks = CallbackTasks(app, wechat=wechat, retry_delays=(0.01,))
    routes = wechat_routes(app, wechat=wechat, wecom=wecom, tasks=tasks)
    transport = httpx.ASGITransport(app=Starlette(routes=routes))
    http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    return Harness(
        app=app,
        fake=fake,
        cb=Callbacks(now=clock.now().timestamp()),
        http=http,
        tasks=tasks,
        wechat=wechat,
        wecom=wecom,
    )
