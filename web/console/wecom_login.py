""" "Sign in with WeCom" on the console (``[wechat] work_oauth``), next to sign-in links.

``GET /console/wecom/login`` makes a signed, single-use state (:mod:`dialogs.console.oauth`),
keeps its nonce in a cookie of this browser (``SameSite=Lax``: WeCom's redirect back is
a cross-site navigation, which a ``Strict`` cookie would not follow) and redirects to
WeCom's authorize page. ``GET /console/wecom/callback`` spends the state, asks WeCom
whose ``code`` it is (``auth/getuserinfo`` with the application's access token) and
signs the person in as ``wecom:<userid>`` exactly like a sign-in link does: a session
for that identity, whose roles every request asks again. Someone without any role is
refused with a page that says so. The session cookie is ``Strict``, so the callback
answers with a page that continues to ``/console`` from this site.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Protocol

import httpx
import requests
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from wechatpy.exceptions import WeChatClientException

from bot.wechat_tokens import token_store
from bot.wecom import WorkClient, make_work_client
from core.errors import ChannelError
from core.settings import Settings
from dialogs.console.links import SESSION_TTL, ConsoleSession, start_session
from dialogs.console.oauth import STATE_TTL, new_state, redeem_state
from dialogs.kernel.catalog import t
from dialogs.kernel.roles import highest_role
from storage.models import AuditEvent, ChannelIdentity
from web.console.auth import COOKIE, set_cookie
from web.console.base import ConsoleBase
from web.console.render import esc, layout, message, secure

log = logging.getLogger(__name__)

PLATFORM = "wecom"
STATE_COOKIE = "console_oauth"
LOGIN_PATH = "/console/wecom/login"
CALLBACK_PATH = "/console/wecom/callback"
QR_URL = "https://login.work.weixin.qq.com/wwlogin/sso/login"
IN_APP_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"


class WeComUsers(Protocol):
    """Who a WeCom OAuth ``code`` belongs to."""

    def user_id(self, code: str) -> str | None:
        """The member's userid; None for someone who is not a member of the company.

        Raises:
            ChannelError: WeCom refused the code or could not be reached.
        """
        ...


class WorkApiUsers:
    """``auth/getuserinfo`` through the WeCom application's client (shared tokens)."""

    def __init__(self, client: WorkClient) -> None:
        self.client = client

    def user_id(self, code: str) -> str | None:
        client = self.client
        try:
            data = client.tokens.call(lambda: client.get("auth/getuserinfo", params={"code": code}))
        except WeChatClientException as exc:
            raise ChannelError(f"WeCom auth/getuserinfo: errcode {exc.errcode}") from exc
        except (requests.RequestException, httpx.HTTPError) as exc:
            raise ChannelError("WeCom auth/getuserinfo: not reachable") from exc
        found = data.get("userid") or data.get("UserId") if isinstance(data, dict) else None
        return str(found) if found else None


def authorize_url(settings: Settings, state: str) -> str:
    wc = settings.wechat
    redirect = settings.app.public_base_url.rstrip("/") + CALLBACK_PATH
    if wc.work_oauth_mode == "in_app":
        query = {
            "appid": wc.corp_id or "",
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
            "agentid": wc.agent_id or "",
        }
        return f"{wc.work_oauth_url or IN_APP_URL}?{urllib.parse.urlencode(query)}#wechat_redirect"
    query = {
        "login_type": "CorpApp",
        "appid": wc.corp_id or "",
        "agentid": wc.agent_id or "",
        "redirect_uri": redirect,
        "state": state,
    }
    return f"{wc.work_oauth_url or QR_URL}?{urllib.parse.urlencode(query)}"


def wecom_button(lang: str) -> str:
    return (
        f'<p><a class="button" id="wecom-sign-in" href="{LOGIN_PATH}">'
        f"{esc(t(lang, 'console_web.wecom_sign_in'))}</a></p>"
    )


class WeComLogin(ConsoleBase):
    _wecom_users: WeComUsers | None = None

    @property
    def wecom_oauth(self) -> bool:
        return self.app.settings.wechat.work_oauth

    def wecom_users(self) -> WeComUsers:
        if self._wecom_users is None:
            settings = self.app.settings
            url = settings.app.redis_url
            store = token_store(self.app.db, url.get_secret_value() if url else None)
            client = make_work_client(settings, store, self.app.services.clock)
            self._wecom_users = WorkApiUsers(client)
        return self._wecom_users

    def sign_in_options(self, lang: str) -> str:
        return f'<section class="card">{wecom_button(lang)}</section>' if self.wecom_oauth else ""

    async def wecom_login(self, request: Request) -> Response:
        if not self.wecom_oauth:
            return message(self.default_lang, t(self.default_lang, "console_web.not_found"), 404)
        key = self.app.db.keyring.index_key
        state, nonce = await self.run(lambda s: new_state(s, key, self.now()))
        response = secure(RedirectResponse(authorize_url(self.app.settings, state), 302))
        response.set_cookie(
            STATE_COOKIE,
            nonce,
            max_age=int(STATE_TTL.total_seconds()),
            path=CALLBACK_PATH,
            secure=self.secure_cookies,
            httponly=True,
            samesite="lax",
        )
        return response

    async def wecom_callback(self, request: Request) -> Response:
        lang = self.default_lang
        if not self.wecom_oauth:
            return message(lang, t(lang, "console_web.not_found"), 404)
        key = self.app.db.keyring.index_key
        state = request.query_params.get("state")
        code = request.query_params.get("code", "")
        browser = request.cookies.get(STATE_COOKIE)
        ok = await self.run(lambda s: redeem_state(s, key, state, browser, self.now()))
        if not ok:
            log.warning("console WeCom sign-in: a state that is forged, used or expired")
            again = self.sign_in_options(lang)
            text = t(lang, "console_web.oauth_state_bad")
            return self._drop_state(message(lang, text, 403, more=again))
        if not code or len(code) > 512:  # the person cancelled on WeCom's page
            text = t(lang, "console_web.oauth_failed")
            return self._drop_state(message(lang, text, 400, more=self.sign_in_options(lang)))
        try:
            user = await run_in_threadpool(self.wecom_users().user_id, code)
        except ChannelError as exc:
            log.warning("console WeCom sign-in: %s", exc)
            text = t(lang, "console_web.oauth_failed")
            return self._drop_state(message(lang, text, 502, more=self.sign_in_options(lang)))
        if user is None:
            return self._drop_state(message(lang, t(lang, "console_web.oauth_not_member"), 403))
        settings = self.app.settings

        def work(session: Session) -> ConsoleSession | str:
            now = self.now()
            known = session.exec(
                select(ChannelIdentity.language).where(
                    ChannelIdentity.platform == PLATFORM, ChannelIdentity.user_id == user
                )
            ).first()
            person_lang = known if known in ("zh", "en") else lang
            if highest_role(session, settings, PLATFORM, user) is None:
                session.add(
                    AuditEvent(
                        at=now,
                        actor=f"{PLATFORM}:{user}",
                        action="access_denied",
                        subject="console",
                        details={"reason": "no_role", "via": "console_wecom_oauth"},
                    )
                )
                return person_lang
            cs = start_session(session, PLATFORM, user, person_lang, now)
            session.add(
                AuditEvent(
                    at=now,
                    actor=cs.actor,
                    action="console_sign_in",
                    subject="",
                    details={"via": "wecom_oauth"},
                )
            )
            return cs

        result = await self.run(work)
        if isinstance(result, str):
            text = t(result, "console_web.oauth_no_role", who=f"{PLATFORM}:{user}")
            return self._drop_state(message(result, text, 403))
        # A Strict cookie is not sent on the rest of a navigation that began on WeCom's
        # site: this page continues to the console from here.
        body = (
            f'<section class="card notice" role="status"><p>'
            f"{esc(t(result.lang, 'console_web.oauth_signed_in', who=result.actor))}</p>"
            f'<p><a href="/console" id="continue">{esc(t(result.lang, "console_web.continue"))}'
            "</a></p></section>"
        )
        html = layout(result.lang, t(result.lang, "console_web.title"), body).replace(
            "<head>", '<head><meta http-equiv="refresh" content="0;url=/console">', 1
        )
        response = secure(HTMLResponse(html))
        set_cookie(
            response,
            COOKIE,
            result.key,
            secure=self.secure_cookies,
            max_age=int(SESSION_TTL.total_seconds()),
        )
        return self._drop_state(response)

    def _drop_state(self, response: Response) -> Response:
        """Every answer of the callback drops the state cookie (spent either way)."""
        response.delete_cookie(
            STATE_COOKIE,
            path=CALLBACK_PATH,
            secure=self.secure_cookies,
            httponly=True,
            samesite="lax",
        )
        return response
