"""The phone coding page: a link the bot sends with each coding question (its token is
bound to the interview and the question, valid until the question's time is up or the
code is submitted), with an editor (CodeMirror, vendored), "run examples" (the visible
examples only, in the sandbox, as often as needed up to a cap), drafts saved as the
candidate types, and "submit" once: the code then goes into the interview exactly as if
it had been sent in the chat (one event, idempotent by the link)."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import Any

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.host import App
from app.runtime import Runtime
from coding.judge import judge
from coding.languages import language
from coding.question import MAX_SOURCE_CHARS, CodingSpec
from coding.sandbox import Sandbox
from core.clock import as_utc
from dialogs.kernel.events import TextReceived
from storage.crypto import token_hash
from storage.models import CodingLink, InterviewSession, Question

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {
    "codemirror.js": STATIC / "codemirror" / "codemirror.js",
    "codemirror.css": STATIC / "codemirror" / "codemirror.css",
    "python.js": STATIC / "codemirror" / "python.js",
    "javascript.js": STATIC / "codemirror" / "javascript.js",
    "coding_page.js": STATIC / "coding_page.js",
    "coding_page.css": STATIC / "coding_page.css",
}
MODES = {"python": "python", "javascript": "javascript"}
MAX_RUNS = 30
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
PAGE: dict[str, dict[str, str]] = {
    "en": {
        "title": "Coding question",
        "run": "Run the examples",
        "submit": "Submit (once)",
        "confirm": "Submit this code? You cannot change it afterwards.",
        "saved": "Draft saved",
        "running": "Running…",
        "submitted": "Submitted. The interview goes on in the chat.",
        "not_found": "This link is not valid.",
        "expired": "The time for this question is up.",
        "closed": "This question is closed: the code was submitted or the interview moved on.",
        "too_many_runs": "You have run the examples too many times.",
        "empty": "The code is empty.",
        "too_long": "The code is too long.",
        "examples": "Examples",
        "no_examples": "This question has no examples to run.",
    },
    "zh": {
        "title": "编程题",
        "run": "运行示例",
        "submit": "提交（仅一次）",
        "confirm": "确定提交这段代码吗？提交后不能修改。",
        "saved": "草稿已保存",
        "running": "运行中…",
        "submitted": "已提交。面试将在聊天中继续。",
        "not_found": "此链接无效。",
        "expired": "本题的作答时间已到。",
        "closed": "本题已关闭：代码已提交，或面试已进入下一题。",
        "too_many_runs": "运行示例的次数太多了。",
        "empty": "代码为空。",
        "too_long": "代码太长。",
        "examples": "示例",
        "no_examples": "本题没有可运行的示例。",
    },
}
LAYOUT = Template(
    """<!doctype html>
<html lang="$lang"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<link rel="stylesheet" href="/code/static/codemirror.css">
<link rel="stylesheet" href="/code/static/coding_page.css">
</head><body>
<main id="page" data-token="$token" data-mode="$mode" data-texts="$texts">
<h1>$title</h1>
<p class="statement">$statement</p>
<h2>$examples_label</h2>
<pre class="examples">$examples</pre>
<textarea id="code" spellcheck="false" autocapitalize="off">$code</textarea>
<p id="status" role="status"></p>
<div class="buttons"><button id="run" type="button">$run</button>
<button id="submit" type="button">$submit</button></div>
<pre id="results"></pre>
</main>
<script src="/code/static/codemirror.js"></script>
<script src="/code/static/$mode.js"></script>
<script src="/code/static/coding_page.js"></script>
</body></html>
"""
)


class CodingPage:
    def __init__(self, app: App, sandbox: Callable[[], Sandbox]) -> None:
        self.app = app
        self.sandbox = sandbox

    # --------------------------------------------------------------- lookups
    def _load(self, token: str) -> tuple[str, dict[str, Any]]:
        """("ok" | a problem, what the page needs) for a token, in one session."""
        now = as_utc(self.app.services.clock.now())
        with self.app.db.session() as session:
            link = session.exec(
                select(CodingLink).where(CodingLink.token_hash == token_hash(token))
            ).first()
            if link is None:
                return "not_found", {"lang": "zh"}
            s = session.get(InterviewSession, link.session_id)
            question = session.get(Question, link.question_id)
            if s is None or question is None or not question.coding:
                return "not_found", {"lang": "zh"}
            data = {
                "lang": s.language if s.language in PAGE else "zh",
                "link_id": link.id,
                "draft": link.draft,
                "runs": link.runs,
                "spec": CodingSpec.model_validate(question.coding),
                "statement": question.text_zh if s.language == "zh" else question.text_en,
                "platform": s.platform,
                "chat_id": s.chat_id,
                "user_id": s.user_id,
            }
            if link.submitted_at is not None:
                return "closed", data
            if s.state != "question" or s.question_index != link.position:
                return "closed", data
            if now >= as_utc(link.expires_at):
                return "expired", data
            return "ok", data

    @staticmethod
    def _problem(problem: str, lang: str) -> Response:
        status = {"not_found": 404, "closed": 409, "expired": 410}[problem]
        return JSONResponse({"error": problem, "message": PAGE[lang][problem]}, status_code=status)

    @staticmethod
    async def _code(request: Request, lang: str) -> str | Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return JSONResponse({"error": "bad_request"}, status_code=400)
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str):
            return JSONResponse({"error": "bad_request"}, status_code=400)
        if len(code) > MAX_SOURCE_CHARS:
            return JSONResponse(
                {"error": "too_long", "message": PAGE[lang]["too_long"]}, status_code=413
            )
        return code.replace("\x00", "")

    # --------------------------------------------------------------- routes
    async def static(self, request: Request) -> Response:
        path = ASSETS.get(request.path_params["name"])
        if path is None:
            return Response(status_code=404)
        return FileResponse(path)

    async def show(self, request: Request) -> Response:
        token = request.path_params["token"]
        problem, data = await asyncio.to_thread(self._load, token)
        lang = data["lang"]
        if problem != "ok":
            text = html.escape(PAGE[lang][problem])
            status = {"not_found": 404, "closed": 409, "expired": 410}[problem]
            return self._html(f"<!doctype html><meta charset=utf-8><p>{text}</p>", status)
        spec: CodingSpec = data["spec"]
        examples = []
        for example in spec.examples:
            if example.call is not None:
                args = ", ".join(json.dumps(a, ensure_ascii=False) for a in example.call.args)
                examples.append(
                    f"{example.call.function}({args}) → {json.dumps(example.expected, ensure_ascii=False)}"
                )
            else:
                examples.append(
                    f"{example.stdin.rstrip()}\n→ {(example.expected_stdout or '').rstrip()}"
                )
        page = LAYOUT.substitute(
            lang="zh-CN" if lang == "zh" else "en",
            title=html.escape(PAGE[lang]["title"]),
            token=html.escape(token, quote=True),
            mode=MODES.get(spec.language, "python"),
            texts=html.escape(json.dumps(PAGE[lang], ensure_ascii=False), quote=True),
            statement=html.escape(data["statement"]),
            examples_label=html.escape(PAGE[lang]["examples"]),
            examples=html.escape("\n\n".join(examples) or PAGE[lang]["no_examples"]),
            code=html.escape(data["draft"] if data["draft"] is not None else spec.starter),
            run=html.escape(PAGE[lang]["run"]),
            submit=html.escape(PAGE[lang]["submit"]),
        )
        return self._html(page)

    @staticmethod
    def _html(text: str, status: int = 200) -> Response:
        response = HTMLResponse(text, status_code=status)
        response.headers["Content-Security-Policy"] = CSP
        return response

    async def draft(self, request: Request) -> Response:
        problem, data = await asyncio.to_thread(self._load, request.path_params["token"])
        if problem != "ok":
            return self._problem(problem, data["lang"])
        code = await self._code(request, data["lang"])
        if isinstance(code, Response):
            return code
        await asyncio.to_thread(self._update, data["link_id"], draft=code)
        return JSONResponse({"saved": True})

    def _update(self, link_id: int, **values: Any) -> None:
        with self.app.db.transaction() as session:
            link = session.get(CodingLink, link_id)
            if link is not None:
                for key, value in values.items():
                    setattr(link, key, value)
                session.add(link)

    async def run_examples(self, request: Request) -> Response:
        problem, data = await asyncio.to_thread(self._load, request.path_params["token"])
        lang = data["lang"]
        if problem != "ok":
            return self._problem(problem, lang)
        if data["runs"] >= MAX_RUNS:
            return JSONResponse(
                {"error": "too_many_runs", "message": PAGE[lang]["too_many_runs"]},
                status_code=429,
            )
        code = await self._code(request, lang)
        if isinstance(code, Response):
            return code
        spec: CodingSpec = data["spec"]
        suite = spec.examples_suite()
        await asyncio.to_thread(self._update, data["link_id"], draft=code, runs=data["runs"] + 1)
        if suite is None:
            return JSONResponse(
                {"verdict": None, "tests": [], "message": PAGE[lang]["no_examples"]}
            )
        report = await asyncio.to_thread(judge, self.sandbox(), code, suite)
        return JSONResponse(
            {
                "verdict": report.verdict,
                "language": language(spec.language).name,
                "tests": [
                    {"name": t.name, "verdict": t.verdict, "seconds": t.seconds, "detail": t.detail}
                    for t in report.tests
                ],
                "compile_output": report.compile_output,
            }
        )

    async def submit(self, request: Request) -> Response:
        problem, data = await asyncio.to_thread(self._load, request.path_params["token"])
        lang = data["lang"]
        if problem != "ok":
            return self._problem(problem, lang)
        code = await self._code(request, lang)
        if isinstance(code, Response):
            return code
        if not code.strip():
            return JSONResponse({"error": "empty", "message": PAGE[lang]["empty"]}, status_code=400)
        event = TextReceived(
            event_id=f"web:code:{data['link_id']}",
            platform=data["platform"],
            chat_id=data["chat_id"],
            user_id=data["user_id"],
            text=code,
        )
        await asyncio.to_thread(self.app.engine.handle, event)
        now = self.app.services.clock.now()
        await asyncio.to_thread(self._update, data["link_id"], draft=code, submitted_at=now)
        return JSONResponse({"submitted": True, "message": PAGE[lang]["submitted"]})


def coding_routes(app: App, sandbox: Callable[[], Sandbox]) -> list[BaseRoute]:
    page = CodingPage(app, sandbox)
    return [
        Route("/code/static/{name}", page.static, methods=["GET"]),
        Route("/code/{token}", page.show, methods=["GET"]),
        Route("/code/{token}/draft", page.draft, methods=["POST"]),
        Route("/code/{token}/run", page.run_examples, methods=["POST"]),
        Route("/code/{token}/submit", page.submit, methods=["POST"]),
    ]


async def start_coding_page(rt: Runtime) -> None:
    """Runner hook: the coding pages are served whenever the bot runs (the sandbox is
    set up on the first run of examples)."""
    made: list[Sandbox] = []

    def sandbox() -> Sandbox:
        if not made:
            from coding.bwrap import BwrapSandbox

            made.append(BwrapSandbox())
        return made[0]

    rt.add_routes(coding_routes(rt.app, sandbox))
