"""The console's request helpers: who is asking, transactions off the event loop, the
job or candidate a request names, checked for the action (``auth.check_job``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from app.host import App
from dialogs.console.links import (
    ConsoleSession,
    load_session,
)
from dialogs.kernel.access import parse_id
from dialogs.kernel.catalog import t
from storage.models import Candidate, Job
from web.console import live
from web.console.auth import (
    COOKIE,
    Denied,
    check_job,
)
from web.console.render import message

STATIC = Path(__file__).resolve().parent.parent / "static"
WEB_CHAT = "web-console"  # the chat id of decisions and scores made in the console


class ConsoleBase:
    def __init__(
        self,
        app: App,
        *,
        secure_cookies: bool,
        live_poll_s: float = live.POLL_S,
        live_max_s: float = live.MAX_STREAM_S,
    ) -> None:
        self.app = app
        self.secure_cookies = secure_cookies
        self.live_poll_s = live_poll_s
        self.live_max_s = live_max_s

    @property
    def default_lang(self) -> str:
        return "en" if self.app.settings.app.default_language == "en" else "zh"

    def run(self, work: Callable[[Session], Any]) -> Any:
        def in_transaction() -> Any:
            with self.app.db.transaction() as session:
                return work(session)

        return run_in_threadpool(in_transaction)

    def now(self) -> Any:
        return self.app.services.clock.now()

    async def who(self, request: Request) -> ConsoleSession | None:
        secret = request.cookies.get(COOKIE)
        if not secret:
            return None
        return await self.run(lambda s: load_session(s, secret, self.now()))  # type: ignore[no-any-return]

    def sign_in_options(self, lang: str) -> str:
        """HTML offering other ways to sign in than a link (none here; see wecom_login)."""
        return ""

    def signed_out(self) -> Response:
        lang = self.default_lang
        text = t(lang, "console_web.not_signed_in")
        return message(lang, text, 401, more=self.sign_in_options(lang))

    def denied(self, cs: ConsoleSession, d: Denied) -> Response:
        return message(cs.lang, d.text, d.status, cs=cs)

    def _job(self, session: Session, cs: ConsoleSession, raw: str, action: str) -> Job | Denied:
        jid = parse_id(raw)
        job = session.get(Job, jid) if jid is not None else None
        denied = check_job(
            session, self.app.settings, cs, action, job, self.now(), f"job:{jid or '?'}"
        )
        if denied is not None:
            return denied
        assert job is not None
        return job

    def _candidate(
        self, session: Session, cs: ConsoleSession, raw: str, action: str
    ) -> tuple[Candidate, Job] | Denied:
        cid = parse_id(raw)
        candidate = session.get(Candidate, cid) if cid is not None else None
        if candidate is not None and candidate.status == "deleted":
            candidate = None
        job = session.get(Job, candidate.job_id) if candidate is not None else None
        denied = check_job(
            session, self.app.settings, cs, action, job, self.now(), f"candidate:{cid or '?'}"
        )
        if denied is not None:
            return denied
        assert candidate is not None
        assert job is not None
        return candidate, job
