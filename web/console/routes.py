"""The console's routes under ``/console``: sign-in, pages, decisions, export.

Sign-in: ``GET /console/login/{token}`` shows a button (so a chat's link preview cannot
spend the link); its ``POST`` redeems the token once and sets the session cookie. Every
other page needs the session; every page and action asks the role for its job
(:func:`web.console.auth.check_job`); every form needs the CSRF token. A decision is a
``dec:<id>:<a|n|r>`` button event handled by the chat engine itself
(``engine.handle``): the same access check, atomic first-press rule, audit and messages.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.host import App
from app.runtime import Runtime
from dialogs.console.links import (
    SESSION_TTL,
    ConsoleSession,
    LinkRefused,
    end_session,
    link_language,
    redeem_link,
    set_language,
)
from dialogs.hiring.results import candidate_composite
from dialogs.kernel.catalog import t
from dialogs.kernel.events import ButtonPressed
from dialogs.kernel.roles import permitted_job_ids
from storage.models import Decision, HumanScore, Job
from web.console import (
    compare,
    contract_view,
    export,
    followup,
    notes,
    pages,
    queries,
    scoring,
)
from web.console.auth import (
    COOKIE,
    PRE_COOKIE,
    Denied,
    audit,
    check_job,
    clear_cookie,
    csrf_ok,
    set_cookie,
)
from web.console.base import STATIC, WEB_CHAT
from web.console.extras import ConsoleExtras
from web.console.render import esc, hidden, message, page, secure
from web.console.wecom_login import CALLBACK_PATH, LOGIN_PATH, WeComLogin

_OUTCOMES = {"a": "approve", "n": "next_round", "r": "reject"}


class Console(ConsoleExtras, WeComLogin):
    # -- sign-in ---------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        token = request.path_params["token"]
        pre = secrets.token_urlsafe(24)
        lang = await self.run(lambda s: link_language(s, token)) or self.default_lang
        body = (
            f'<section class="card"><h1>{esc(t(lang, "console_web.title"))}</h1>'
            f'<form method="post" action="/console/login/{esc(token)}">'
            f"{hidden('pre', pre)}"
            f'<button type="submit" id="sign-in">{esc(t(lang, "console_web.sign_in"))}</button>'
            "</form></section>"
        )
        response = page(lang, t(lang, "console_web.sign_in"), body)
        set_cookie(response, PRE_COOKIE, pre, secure=self.secure_cookies, max_age=600)
        return response

    async def login(self, request: Request) -> Response:
        token = request.path_params["token"]
        form = await request.form()
        pre = request.cookies.get(PRE_COOKIE, "")
        lang = self.default_lang
        given = form.get("pre")
        if not pre or not isinstance(given, str) or not secrets.compare_digest(given, pre):
            return message(lang, t(lang, "console_web.csrf_failed"), 403)

        def work(session: Session) -> ConsoleSession | LinkRefused:
            try:
                return redeem_link(session, token, self.now())
            except LinkRefused as refused:
                return refused

        result = await self.run(work)
        if isinstance(result, LinkRefused):
            lang = result.lang or lang
            status = 404 if result.problem.value == "unknown" else 410
            text = t(lang, f"console_web.link_{result.problem.value}")
            return message(lang, text, status, more=self.sign_in_options(lang))
        response = secure(RedirectResponse("/console", status_code=303))
        set_cookie(
            response,
            COOKIE,
            result.key,
            secure=self.secure_cookies,
            max_age=int(SESSION_TTL.total_seconds()),
        )
        clear_cookie(response, PRE_COOKIE, secure=self.secure_cookies)
        return response

    async def _signed_form(self, request: Request) -> tuple[ConsoleSession, FormData] | Response:
        """A signed-in person's form with its CSRF token checked, or the refusal."""
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()
        form = await request.form()
        if not csrf_ok(cs, form.get("csrf")):
            return message(cs.lang, t(cs.lang, "console_web.csrf_failed"), 403, cs=cs)
        return cs, form

    async def logout(self, request: Request) -> Response:
        got = await self._signed_form(request)
        if isinstance(got, Response):
            return got
        cs, _ = got
        await self.run(lambda s: end_session(s, cs.key))
        response = message(
            cs.lang,
            t(cs.lang, "console_web.signed_out"),
            200,
            kind="notice",
            more=self.sign_in_options(cs.lang),
        )
        clear_cookie(response, COOKIE, secure=self.secure_cookies)
        return response

    async def language(self, request: Request) -> Response:
        got = await self._signed_form(request)
        if isinstance(got, Response):
            return got
        cs, form = got
        lang = str(form.get("lang", ""))
        await self.run(lambda s: set_language(s, cs.key, lang))
        target = str(form.get("next", "/console"))
        if not target.startswith("/console") or "//" in target or "\\" in target:
            target = "/console"
        return secure(RedirectResponse(target, status_code=303))

    # -- pages -----------------------------------------------------------------------
    async def jobs(self, request: Request) -> Response:
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()
        settings = self.app.settings

        def work(session: Session) -> list[queries.JobRow]:
            ids = permitted_job_ids(session, settings, cs.platform, cs.user_id, "view")
            return queries.job_rows(session, ids)

        rows = await self.run(work)
        title = t(cs.lang, "console_web.jobs_heading")
        return page(cs.lang, title, pages.jobs_body(cs.lang, rows), cs=cs, path="/console")

    async def job(self, request: Request) -> Response:
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()

        def work(
            session: Session,
        ) -> tuple[Job, queries.TablePage, queries.ChartData] | Denied:
            job = self._job(session, cs, request.path_params["job_id"], "view")
            if isinstance(job, Denied):
                return job
            names = tuple(str(c["name"]) for c in job.competencies)
            q = queries.TableQuery.parse(request.query_params, names)
            table = queries.candidate_table(session, job.id or 0, q)
            return job, table, queries.chart_data(session, job, q)

        result = await self.run(work)
        if isinstance(result, Denied):
            return self.denied(cs, result)
        job, tp, charts = result
        body = pages.candidates_body(cs.lang, job, tp, charts)
        return page(cs.lang, job.code, body, cs=cs, path=f"/console/jobs/{job.id}")

    async def candidate(self, request: Request, notice: str = "", status: int = 200) -> Response:
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()

        def work(session: Session) -> str | Denied:
            found = self._candidate(session, cs, request.path_params["candidate_id"], "view")
            if isinstance(found, Denied):
                return found
            candidate, job = found
            comp, rows = candidate_composite(session, job, candidate.id or 0)
            decision = session.exec(
                select(Decision).where(Decision.candidate_id == candidate.id)
            ).first()
            human = list(
                session.exec(select(HumanScore).where(HumanScore.candidate_id == candidate.id))
            )
            audit(session, cs, self.now(), "report_read", f"candidate:{candidate.id}")
            cid = candidate.id or 0
            sections = notes.notes_html(
                cs.lang, cs, cid, notes.notes_of(session, cid), self._may(session, cs, "note", job)
            ) + contract_view.contracts_html(
                cs.lang,
                contract_view.contract_states(session, cid, self.now()),
                self._may(session, cs, "contract_file", job),
            )
            may_score = self._may(session, cs, "score", job)
            return pages.candidate_body(
                cs.lang,
                cs,
                job,
                candidate,
                comp,
                rows,
                decision,
                human,
                notice,
                may_score,
                sections,
            )

        result = await self.run(work)
        if isinstance(result, Denied):
            return self.denied(cs, result)
        cid = request.path_params["candidate_id"]
        return page(
            cs.lang, f"#{cid}", result, cs=cs, path=f"/console/candidates/{cid}", status=status
        )

    def _may(self, session: Session, cs: ConsoleSession, action: str, job: Job) -> bool:
        """Whether to offer the form of ``action`` (a question, not an attempt: not audited)."""
        settings = self.app.settings
        return check_job(session, settings, cs, action, job, self.now(), "", log=False) is None

    async def _candidate_form(
        self, request: Request, action: str
    ) -> tuple[ConsoleSession, FormData, int] | Response:
        """A signed-in person's form about one candidate they may ``action``, its CSRF
        token checked: the session, the form and the candidate's id, or the refusal."""
        got = await self._signed_form(request)
        if isinstance(got, Response):
            return got
        cs, form = got

        def check(session: Session) -> int | Denied:
            found = self._candidate(session, cs, request.path_params["candidate_id"], action)
            return found if isinstance(found, Denied) else found[0].id or 0

        checked = await self.run(check)
        if isinstance(checked, Denied):
            return self.denied(cs, checked)
        return cs, form, checked

    async def decide(self, request: Request) -> Response:
        got = await self._candidate_form(request, "decide")
        if isinstance(got, Response):
            return got
        cs, form, checked = got
        code = str(form.get("outcome", ""))
        if code not in _OUTCOMES:
            return message(cs.lang, t(cs.lang, "console_web.not_found"), 400, cs=cs)
        event = ButtonPressed(
            event_id=f"console-web:{uuid.uuid4().hex}",
            platform=cs.platform,
            chat_id=WEB_CHAT,
            user_id=cs.user_id,
            data=f"dec:{checked}:{code}",
        )
        # The chat's own path: access check, first press wins, audit, posts, candidate told.
        await run_in_threadpool(self.app.engine.handle, event)

        def outcome(session: Session) -> Decision | None:
            return session.exec(select(Decision).where(Decision.candidate_id == checked)).first()

        decision = await self.run(outcome)
        mine = (
            decision is not None
            and decision.status == "decided"
            and decision.decided_by == cs.actor
            and decision.decided_in_chat == f"{cs.platform}:{WEB_CHAT}"
            and decision.outcome == _OUTCOMES[code]
        )
        label = (
            t(cs.lang, f"console_web.outcome_{decision.outcome}")
            if decision and decision.outcome
            else "?"
        )
        if mine:
            return await self.candidate(
                request, t(cs.lang, "console_web.decision_done", outcome=label)
            )
        who = decision.decided_by if decision is not None else "?"
        text = t(cs.lang, "console_web.decision_already", outcome=label, who=who or "?")
        return await self.candidate(request, text, status=409)

    async def score(self, request: Request) -> Response:
        got = await self._candidate_form(request, "score")
        if isinstance(got, Response):
            return got
        cs, form, checked = got
        saved = await run_in_threadpool(
            scoring.score,
            self.app,
            cs,
            WEB_CHAT,
            checked,
            str(form.get("competency", "")),
            str(form.get("score", "")),
            str(form.get("comment", "")),
        )
        if saved is None:
            return await self.candidate(request, t(cs.lang, "console_web.score_invalid"), 400)
        return await self.candidate(request, t(cs.lang, "console_web.score_saved"))

    async def note(self, request: Request) -> Response:
        """A note on the candidate (hr_manager or admin for its job); audited."""
        got = await self._candidate_form(request, "note")
        if isinstance(got, Response):
            return got
        cs, form, checked = got
        text = notes.clean(form.get("text"))
        if text is None:
            return await self.candidate(request, t(cs.lang, "console_web.note_invalid"), 400)

        def work(session: Session) -> None:
            notes.add_note(session, checked, cs.actor, text, self.now())
            audit(session, cs, self.now(), "note_added", f"candidate:{checked}")

        await self.run(work)
        return await self.candidate(request, t(cs.lang, "console_web.note_saved"))

    async def compare(self, request: Request) -> Response:
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()
        ids = compare.wanted_ids(request.query_params.getlist("c"))

        def work(session: Session) -> tuple[Job, list[Any]] | Denied:
            job = self._job(session, cs, request.path_params["job_id"], "view")
            if isinstance(job, Denied):
                return job
            people = compare.side_by_side(session, job, ids) if ids else None
            if people is None:
                return Denied(400, t(cs.lang, "console_web.compare_pick"))
            audit(session, cs, self.now(), "compare_read", f"job:{job.id}")
            return job, people

        result = await self.run(work)
        if isinstance(result, Denied):
            return self.denied(cs, result)
        job, people = result
        body = compare.compare_body(cs.lang, job, people)
        return page(cs.lang, job.code, body, cs=cs, path=f"/console/jobs/{job.id}")

    async def ask(self, request: Request) -> Response:
        got = await self._candidate_form(request, "ask")
        if isinstance(got, Response):
            return got
        cs, form, checked = got
        told = await run_in_threadpool(
            followup.ask, self.app, cs, WEB_CHAT, checked, str(form.get("question", ""))
        )
        return await self.candidate(request, told)

    async def export(self, request: Request) -> Response:
        cs = await self.who(request)
        if cs is None:
            return self.signed_out()
        kind = request.path_params["kind"]
        if kind not in ("csv", "xlsx"):
            return message(cs.lang, t(cs.lang, "console_web.not_found"), 404, cs=cs)

        def work(session: Session) -> tuple[Job, bytes] | Denied:
            job = self._job(session, cs, request.path_params["job_id"], "view")
            if isinstance(job, Denied):
                return job
            rows = queries.all_rows(session, job.id or 0)
            data = export.to_csv(cs.lang, rows) if kind == "csv" else export.to_xlsx(cs.lang, rows)
            audit(session, cs, self.now(), f"export_{kind}", f"job:{job.id}")
            return job, data

        result = await self.run(work)
        if isinstance(result, Denied):
            return self.denied(cs, result)
        job, data = result
        media = (
            "text/csv; charset=utf-8"
            if kind == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response = Response(data, media_type=media)
        response.headers["Content-Disposition"] = f'attachment; filename="job-{job.id}.{kind}"'
        return secure(response)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        kinds = {"console.css": "text/css", "console_live.js": "text/javascript"}
        if name not in kinds:
            return Response(status_code=404)
        return secure(Response((STATIC / name).read_bytes(), media_type=kinds[name]))


def console_routes(app: App, **options: float) -> list[BaseRoute]:
    """The routes; ``options``: ``live_poll_s`` and ``live_max_s`` of the live stream."""
    console = Console(
        app, secure_cookies=app.settings.app.public_base_url.startswith("https://"), **options
    )
    return [
        Route("/console", console.jobs, methods=["GET"]),
        Route("/console/login/{token}", console.login_form, methods=["GET"]),
        Route("/console/login/{token}", console.login, methods=["POST"]),
        Route("/console/logout", console.logout, methods=["POST"]),
        Route(LOGIN_PATH, console.wecom_login, methods=["GET"]),
        Route(CALLBACK_PATH, console.wecom_callback, methods=["GET"]),
        Route("/console/lang", console.language, methods=["POST"]),
        Route("/console/static/{name}", console.static, methods=["GET"]),
        Route("/console/jobs/{job_id}", console.job, methods=["GET"]),
        Route("/console/jobs/{job_id}/export.{kind:str}", console.export, methods=["GET"]),
        Route("/console/candidates/{candidate_id}", console.candidate, methods=["GET"]),
        Route("/console/candidates/{candidate_id}/decide", console.decide, methods=["POST"]),
        Route("/console/candidates/{candidate_id}/score", console.score, methods=["POST"]),
        Route("/console/candidates/{candidate_id}/ask", console.ask, methods=["POST"]),
        Route("/console/candidates/{candidate_id}/notes", console.note, methods=["POST"]),
        Route("/console/contracts/{contract_id}/signed.pdf", console.contract_pdf, methods=["GET"]),
        Route("/console/answers/{answer_id}/media", console.recording, methods=["GET"]),
        Route("/console/jobs/{job_id}/compare", console.compare, methods=["GET"]),
        Route("/console/jobs/{job_id}/live", console.live_page, methods=["GET"]),
        Route("/console/jobs/{job_id}/live/events", console.live_events, methods=["GET"]),
    ]


async def start_console(rt: Runtime) -> None:
    """Runner hook: the console is served whenever the web app runs."""
    rt.add_routes(console_routes(rt.app))
