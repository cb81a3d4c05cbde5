"""The contract signing page (Starlette routes under ``/sign/{token}``).

Flow: the candidate opens the one-time link from the chat -> asks for a code, which the
server sends to their chat through a :class:`CodeSender` (never shown to anyone else) ->
enters it (5 wrong codes lock the link) -> sees the contract as page images with a free PDF
download -> draws or types a signature, ticks an explicit confirmation and submits, or
declines with a reason -> the server seals the PDF (:mod:`contracts.signing`).

The browser session that the code creates is a random secret in an ``HttpOnly``,
``SameSite=Strict`` cookie scoped to the link's path; only its hash is stored. Every POST
needs the unguessable token in its path and, except for asking for a code, that cookie, so
a cross-site form cannot act on the link. Every response carries a strict CSP (no inline
script), ``X-Frame-Options: DENY``, ``Cache-Control: no-store`` and
``Referrer-Policy: no-referrer`` (the token is in the URL).

A drawn signature is checked in a worker thread, never on the event loop that also
answers health checks and chat callbacks: its size is read from the PNG header before
anything is decoded (at most 2000 x 1000), and the ink must look like handwriting (see
:func:`contracts.signing.prepare_signature_image`). Every refusal is a 4xx page in the
page's language; nothing in the submitted image can cause a 500.

The contract is stored encrypted: the PDF download and the page images are made from
the decrypted bytes in memory (``pdftoppm`` reads and writes through pipes), and page
images are cached in memory only.
"""

from __future__ import annotations

import base64
import binascii
import html
import inspect
import logging
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Protocol

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from contracts import service
from contracts.files import ContractFiles
from contracts.messages import PAGE, Lang
from contracts.service import (
    CODE_RESEND_AFTER,
    CodeError,
    LinkError,
    LinkProblem,
    complete_signing,
    new_code,
    open_link,
    record_event,
    session_matches,
    terms_of,
    tries_left,
    verify_code,
)
from contracts.signing import (
    MAX_SIGNATURE_HEIGHT,
    MAX_SIGNATURE_WIDTH,
    SignatureImageError,
    SignatureMark,
    Signer,
    prepare_signature_image,
)
from core.clock import Clock, SystemClock
from core.errors import ContractError, SigningError

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
COOKIE = "sign_session"
MAX_SIGNATURE_FIELD = 1_400_000  # characters of the data: URL
SIGNATURE_DECODES = threading.BoundedSemaphore(4)  # drawn signatures decoded at once
# Why a drawn signature was refused -> the message that tells the candidate.
_REFUSALS = {
    "blank": "sign.blank",
    "faint": "sign.too_faint",
    "heavy": "sign.too_heavy",
    "noise": "sign.not_signature",
    "too_large": "sign.image_too_large",
    "invalid": "sign.image_invalid",
}
PAGE_DPI = 110
PAGE_CACHE = 48  # rendered page images kept in memory (never written to disk)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

_STATUS = {
    LinkProblem.UNKNOWN: 404,
    LinkProblem.EXPIRED: 410,
    LinkProblem.USED: 410,
    LinkProblem.REVOKED: 410,
    LinkProblem.LOCKED: 423,
}


class CodeSender(Protocol):
    """Delivers a signing code to the candidate's own chat (and nowhere else).

    The chat engine implements it, e.g. by putting a ``Send`` intent in the outbox for
    the candidate's chat. It may be a plain or an ``async`` function.
    """

    def __call__(
        self, *, candidate_id: int, contract_id: int, code: str, language: str
    ) -> Awaitable[None] | None: ...


ContractHook = Callable[[int], Awaitable[None] | None]
TransactionFactory = Callable[[], AbstractContextManager[Session]]


async def _maybe_await(value: Awaitable[None] | None) -> None:
    if inspect.isawaitable(value):
        await value


# --- rendering ---------------------------------------------------------------------


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text("utf-8"))


def _fill(name: str, raw: dict[str, str] | None = None, **values: object) -> str:
    """Fill a template; every value is HTML-escaped except those passed in ``raw``."""
    escaped = {key: html.escape(str(value), quote=True) for key, value in values.items()}
    escaped.update(raw or {})
    return _template(name).substitute(escaped)


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def _page(request: Request, lang: Lang, body: str, status: int = 200) -> Response:
    other: Lang = "en" if lang == "zh" else "zh"
    text = _fill(
        "signing_layout.html",
        raw={"body": body},
        lang="zh-CN" if lang == "zh" else "en",
        title=PAGE[lang]["title"],
        lang_href=f"/sign/{request.path_params.get('token', '')}?lang={other}",
        switch_lang=PAGE[lang]["switch_lang"],
    )
    return _secure(HTMLResponse(text, status_code=status))


def _message(
    request: Request, lang: Lang, text: str, status: int, kind: str = "", extra: str = ""
) -> Response:
    body = _fill("signing_message.html", raw={"extra": extra}, kind=kind, text=text)
    return _page(request, lang, body, status)


def _link_error(request: Request, lang: Lang, problem: LinkProblem) -> Response:
    return _message(request, lang, PAGE[lang][f"error.{problem.value}"], _STATUS[problem], "error")


def _wait_seconds(value: str) -> int:
    """The ``wait`` query value as whole seconds within the resend interval.

    The value comes from the address bar, so anyone can craft it: anything but 1 to 60
    in ASCII digits (negative, huge, other scripts' digits, text) shows the full interval.
    """
    limit = int(CODE_RESEND_AFTER.total_seconds())
    if value.isascii() and value.isdigit() and len(value) <= 3 and 1 <= int(value) <= limit:
        return int(value)
    return limit


def _notice(text: str, error: bool = False) -> str:
    css = "error" if error else "notice"
    return f'<p class="{css}" id="notice">{html.escape(text)}</p>' if text else ""


# --- the routes --------------------------------------------------------------------


@dataclass(frozen=True)
class _Refused:
    """A signature the page refuses: the message key and the HTTP status."""

    key: str
    status: int = 400


@dataclass
class _Signing:
    transaction: TransactionFactory
    code_sender: CodeSender
    signer: Signer
    files: ContractFiles
    clock: Clock
    secure_cookies: bool
    trust_proxy: bool
    on_signed: ContractHook | None
    on_declined: ContractHook | None
    _page_lock: threading.Lock = field(default_factory=threading.Lock)
    _pages: OrderedDict[tuple[str, str, int], bytes] = field(default_factory=OrderedDict)

    # -- helpers --

    def lang(self, request: Request, default: str) -> Lang:
        wanted = request.query_params.get("lang", default)
        return "en" if wanted == "en" else "zh"

    def client(self, request: Request) -> tuple[str, str]:
        ip = request.client.host if request.client else ""
        if self.trust_proxy and "x-forwarded-for" in request.headers:
            ip = request.headers["x-forwarded-for"].split(",")[0].strip()
        return ip, request.headers.get("user-agent", "")[:400]

    def base(self, request: Request) -> str:
        return f"/sign/{request.path_params['token']}"

    def action(self, request: Request, lang: Lang, suffix: str) -> str:
        return f"{self.base(request)}/{suffix}?lang={lang}"

    def run(self, work: Callable[[Session], Any]) -> Awaitable[Any]:
        def in_transaction() -> Any:
            with self.transaction() as session:
                return work(session)

        return run_in_threadpool(in_transaction)

    # -- GET /sign/{token} --

    async def show(self, request: Request) -> Response:
        token = request.path_params["token"]
        secret = request.cookies.get(COOKIE)
        ip, ua = self.client(request)

        def work(session: Session) -> dict[str, Any]:
            try:
                link, contract = open_link(session, token, clock=self.clock)
            except LinkError as exc:
                return {"problem": exc.problem}
            terms = terms_of(contract)
            view: dict[str, Any] = {
                "language": contract.language,
                "terms": terms,
                "pages": contract.pages,
            }
            if session_matches(link, secret):
                record_event(
                    session, contract, link, "viewed", clock=self.clock, ip=ip, user_agent=ua
                )
                view["verified"] = True
            else:
                record_event(
                    session, contract, link, "opened", clock=self.clock, ip=ip, user_agent=ua
                )
                view["verified"] = False
                view["code_pending"] = link.code_hash is not None
            return view

        view = await self.run(work)
        lang = self.lang(request, view.get("language", "zh"))
        if "problem" in view:
            return _link_error(request, lang, view["problem"])
        if view["verified"]:
            return self.contract_page(request, lang, view)
        notice = ""
        if "sent" in request.query_params:
            notice = PAGE[lang]["code.sent"]
        elif "wait" in request.query_params:
            seconds = _wait_seconds(request.query_params.get("wait", ""))
            notice = PAGE[lang]["code.wait"].format(seconds=seconds)
        elif "limit" in request.query_params:
            notice = PAGE[lang]["code.limit"]
        return self.code_page(request, lang, view, _notice(notice))

    def code_page(
        self, request: Request, lang: Lang, view: dict[str, Any], notice: str, status: int = 200
    ) -> Response:
        texts = PAGE[lang]
        body = _fill(
            "signing_code.html",
            raw={"notice": notice},
            heading=texts["code.heading"],
            intro=texts["code.intro"].format(name=view["terms"].employee.name),
            send_action=self.action(request, lang, "code/send"),
            send_label=texts["code.resend"] if view.get("code_pending") else texts["code.send"],
            verify_action=self.action(request, lang, "code"),
            code_label=texts["code.label"],
            submit_label=texts["code.submit"],
        )
        return _page(request, lang, body, status)

    def contract_page(
        self,
        request: Request,
        lang: Lang,
        view: dict[str, Any],
        notice: str = "",
        status: int = 200,
    ) -> Response:
        texts = PAGE[lang]
        terms = view["terms"]
        end = ""
        if terms.contract_type == "fixed_term" and terms.end_date:
            end = texts["contract.until"].format(end=terms.end_date.isoformat())
        summary = texts["contract.summary"].format(
            employer=terms.employer.name,
            employee=terms.employee.name,
            position=terms.position,
            kind=texts[f"kind.{terms.contract_type}"],
            start=terms.start_date.isoformat() if terms.start_date else "?",
            end=end,
            wage=f"{terms.monthly_wage or 0:,.2f}",
        )
        pages = "\n".join(
            '<img src="{src}" alt="{alt}" loading="lazy" width="909" height="1286">'.format(
                src=html.escape(f"{self.base(request)}/page/{n}.png"),
                alt=html.escape(texts["contract.page_alt"].format(n=n)),
            )
            for n in range(1, int(view["pages"]) + 1)
        )
        body = _fill(
            "signing_contract.html",
            raw={"pages": pages, "notice": notice},
            heading=texts["contract.heading"],
            summary=summary,
            pdf_href=f"{self.base(request)}/contract.pdf",
            download=texts["contract.download"],
            sign_heading=texts["sign.heading"],
            sign_action=self.action(request, lang, "sign"),
            draw_label=texts["sign.draw"],
            type_label=texts["sign.type"],
            pad_hint=texts["sign.pad_hint"],
            clear_label=texts["sign.clear"],
            typed_label=texts["sign.typed_label"],
            confirm_label=texts["sign.confirm"],
            blank_msg=texts["sign.blank"],
            faint_msg=texts["sign.too_faint"],
            heavy_msg=texts["sign.too_heavy"],
            working=texts["sign.working"],
            submit_label=texts["sign.submit"],
            decline_heading=texts["decline.heading"],
            decline_action=self.action(request, lang, "decline"),
            decline_label=texts["decline.label"],
            decline_submit=texts["decline.submit"],
        )
        return _page(request, lang, body, status)

    # -- POST /sign/{token}/code/send --

    async def send_code(self, request: Request) -> Response:
        token = request.path_params["token"]
        ip, ua = self.client(request)

        def work(session: Session) -> dict[str, Any]:
            try:
                link, contract = open_link(session, token, clock=self.clock)
            except LinkError as exc:
                return {"problem": exc.problem}
            try:
                code = new_code(session, link, contract, clock=self.clock, ip=ip, user_agent=ua)
            except CodeError as exc:
                return {"code_error": exc, "language": contract.language}
            except LinkError as exc:  # locked or used by a request that ran alongside
                return {"problem": exc.problem}
            return {
                "code": code,
                "candidate_id": contract.candidate_id,
                "contract_id": contract.id,
                "language": contract.language,
            }

        result = await self.run(work)
        lang = self.lang(request, result.get("language", "zh"))
        if "problem" in result:
            return _link_error(request, lang, result["problem"])
        target = f"{self.base(request)}?lang={lang}"
        if "code_error" in result:
            error: CodeError = result["code_error"]
            suffix = f"&wait={error.wait_seconds}" if error.reason == "wait" else "&limit=1"
            return _secure(RedirectResponse(target + suffix, status_code=303))
        try:
            await _maybe_await(
                self.code_sender(
                    candidate_id=result["candidate_id"],
                    contract_id=result["contract_id"],
                    code=result["code"],
                    language=result["language"],
                )
            )
        except Exception:
            log.exception("could not deliver a signing code for contract %s", result["contract_id"])
            return _message(request, lang, PAGE[lang]["code.send_failed"], 502, "error")
        return _secure(RedirectResponse(target + "&sent=1", status_code=303))

    # -- POST /sign/{token}/code --

    async def check_code(self, request: Request) -> Response:
        token = request.path_params["token"]
        form = await request.form()
        code = str(form.get("code", ""))[:20]
        ip, ua = self.client(request)

        def work(session: Session) -> dict[str, Any]:
            try:
                link, contract = open_link(session, token, clock=self.clock)
            except LinkError as exc:
                return {"problem": exc.problem}
            view: dict[str, Any] = {"language": contract.language, "terms": terms_of(contract)}
            try:
                secret = verify_code(
                    session, link, contract, code, clock=self.clock, ip=ip, user_agent=ua
                )
            except CodeError:
                view["expired"] = True
                return view
            except LinkError as exc:
                return {"problem": exc.problem}
            if secret is None:
                view["problem"] = LinkProblem.LOCKED if link.locked else None
                view["left"] = tries_left(link)
                view["code_pending"] = link.code_hash is not None
            else:
                view["secret"] = secret
                view["max_age"] = int((link.expires_at - self.clock.now()).total_seconds())
            return view

        view = await self.run(work)
        lang = self.lang(request, view.get("language", "zh"))
        if view.get("problem") is not None:
            return _link_error(request, lang, view["problem"])
        texts = PAGE[lang]
        if view.get("expired"):
            return self.code_page(request, lang, view, _notice(texts["code.expired"], True), 400)
        if "secret" not in view:
            notice = _notice(texts["code.wrong"].format(left=view["left"]), True)
            return self.code_page(request, lang, view, notice, 400)
        response = RedirectResponse(f"{self.base(request)}?lang={lang}", status_code=303)
        response.set_cookie(
            COOKIE,
            view["secret"],
            max_age=max(60, view["max_age"]),
            path=self.base(request),
            secure=self.secure_cookies,
            httponly=True,
            samesite="strict",
        )
        return _secure(response)

    # -- GET /sign/{token}/page/{n}.png and /contract.pdf --

    def _verified_contract(self, request: Request) -> Callable[[Session], dict[str, Any]]:
        token = request.path_params["token"]
        secret = request.cookies.get(COOKIE)

        def work(session: Session) -> dict[str, Any]:
            try:
                link, contract = open_link(session, token, clock=self.clock)
            except LinkError as exc:
                return {"problem": exc.problem}
            if not session_matches(link, secret):
                return {"problem": LinkProblem.UNKNOWN}
            return {"contract": contract, "pages": contract.pages}

        return work

    def _pdf(self, contract: Any) -> bytes | None:
        """The unsigned PDF, decrypted in memory and checked; None if it is unusable."""
        try:
            return service.unsigned_pdf(contract, self.files)
        except ContractError:
            log.warning("contract %s: the stored PDF is missing or changed", contract.id)
            return None

    async def page_image(self, request: Request) -> Response:
        info = await self.run(self._verified_contract(request))
        if "problem" in info:
            return _secure(Response("not found", status_code=404, media_type="text/plain"))
        raw = str(request.path_params["n"])
        # ASCII digits of a sane length: int() takes other scripts' digits and refuses
        # more than 4300 digits with a ValueError (a 500); so did the ``{n:int}`` route.
        number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
        if not 1 <= number <= int(info["pages"]):
            return _secure(Response("not found", status_code=404, media_type="text/plain"))
        png = await run_in_threadpool(self._render_page, info["contract"], number)
        if png is None:
            return _secure(Response("not found", status_code=404, media_type="text/plain"))
        return _secure(Response(png, media_type="image/png"))

    def _render_page(self, contract: Any, number: int) -> bytes | None:
        """One page as PNG; the PDF goes to pdftoppm through a pipe, the image comes back
        the same way, and only memory holds either (the cache is bounded)."""
        key = (str(contract.contract_no), str(contract.unsigned_sha256), number)
        with self._page_lock:
            cached = self._pages.get(key)
            if cached is not None:
                self._pages.move_to_end(key)
                return cached
            pdf = self._pdf(contract)
            if pdf is None:
                return None
            done = subprocess.run(
                ["pdftoppm", "-r", str(PAGE_DPI), "-png", "-f", str(number), "-l", str(number),
                 "-singlefile", "-"],
                input=pdf, check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            self._pages[key] = done.stdout
            while len(self._pages) > PAGE_CACHE:
                self._pages.popitem(last=False)
            return done.stdout

    async def contract_pdf(self, request: Request) -> Response:
        info = await self.run(self._verified_contract(request))
        if "problem" in info:
            return _secure(Response("not found", status_code=404, media_type="text/plain"))
        contract = info["contract"]
        data = await run_in_threadpool(self._pdf, contract)
        if data is None:
            return _secure(Response("not found", status_code=404, media_type="text/plain"))
        response = Response(data, media_type="application/pdf")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{contract.contract_no}.pdf"'
        )
        return _secure(response)

    # -- POST /sign/{token}/sign --

    async def sign(self, request: Request) -> Response:
        token = request.path_params["token"]
        secret = request.cookies.get(COOKIE)
        try:
            form = await request.form(max_part_size=MAX_SIGNATURE_FIELD)
        except HTTPException:
            # Only the drawn signature can be this large on this page: answer in the
            # page's words below, once the link and the session are checked.
            form = FormData()
            oversized = True
        else:
            oversized = False
        ip, ua = self.client(request)
        mode = str(form.get("mode", "draw"))
        confirmed = form.get("confirm") == "yes"
        typed = " ".join(str(form.get("typed_name", "")).split())[:40]
        data_url = str(form.get("signature_png", ""))

        def prepare(session: Session) -> dict[str, Any]:
            try:
                link, contract = open_link(session, token, clock=self.clock)
            except LinkError as exc:
                return {"problem": exc.problem}
            if not session_matches(link, secret):
                return {"problem": LinkProblem.UNKNOWN}
            return {
                "language": contract.language,
                "terms": terms_of(contract),
                "pages": contract.pages,
            }

        view = await self.run(prepare)
        lang = self.lang(request, view.get("language", "zh"))
        if "problem" in view:
            return _link_error(request, lang, view["problem"])
        texts = PAGE[lang]
        if oversized:
            text = texts["sign.image_too_large"].format(
                width=MAX_SIGNATURE_WIDTH, height=MAX_SIGNATURE_HEIGHT
            )
            return self.contract_page(request, lang, view, _notice(text, True), 413)
        if not confirmed:
            return self.contract_page(
                request, lang, view, _notice(texts["sign.need_confirm"], True), 400
            )
        # Decoding an image takes CPU time: never on the event loop (health checks and
        # chat callbacks share it).
        mark = await run_in_threadpool(
            self._mark, mode, typed, data_url, view["terms"].employee.name
        )
        if isinstance(mark, _Refused):
            text = texts[mark.key].format(width=MAX_SIGNATURE_WIDTH, height=MAX_SIGNATURE_HEIGHT)
            return self.contract_page(request, lang, view, _notice(text, True), mark.status)
        signature: SignatureMark = mark

        def work(session: Session) -> dict[str, Any]:
            try:
                # locked: a second submission waits, then finds the link used
                link, contract = open_link(session, token, clock=self.clock, lock=True)
                done = complete_signing(
                    session, link, contract, browser_secret=secret, mark=signature, signer=self.signer,
                    clock=self.clock, files=self.files, ip=ip, user_agent=ua,
                )  # fmt: skip
            except LinkError as exc:
                return {"problem": exc.problem}
            return {"id": done.id, "sha": done.signed_sha256}

        try:
            result = await self.run(work)
        except SigningError:
            log.exception("sealing failed; the link stays usable")
            return self.contract_page(
                request, lang, view, _notice(texts["sign.unavailable"], True), 503
            )
        if "problem" in result:
            return _link_error(request, lang, result["problem"])
        if self.on_signed is not None:
            try:
                await _maybe_await(self.on_signed(result["id"]))
            except Exception:
                log.exception("on_signed hook failed for contract %s", result["id"])
        extra = f'<p class="sha">{html.escape(texts["done.sha"].format(sha=result["sha"]))}</p>'
        response = _message(request, lang, texts["done.signed"], 200, "done", extra)
        response.delete_cookie(COOKIE, path=self.base(request))
        return response

    def _mark(self, mode: str, typed: str, data_url: str, name: str) -> SignatureMark | _Refused:
        """The signature, or why it is refused (runs in a worker thread)."""
        if mode == "type":
            if not typed:
                return _Refused("sign.blank")
            if "".join(typed.split()).lower() != "".join(name.split()).lower():
                return _Refused("sign.name_mismatch")
            return SignatureMark(typed_name=typed)
        if not data_url:
            return _Refused("sign.blank")
        if len(data_url) > MAX_SIGNATURE_FIELD:
            return _Refused("sign.image_too_large", 413)
        prefix = "data:image/png;base64,"
        if not data_url.startswith(prefix) or not data_url.isascii():
            return _Refused("sign.image_invalid")
        try:
            png = base64.b64decode(data_url[len(prefix) :], validate=True)
        except binascii.Error:
            return _Refused("sign.image_invalid")
        try:
            with SIGNATURE_DECODES:
                prepare_signature_image(png)
        except SignatureImageError as exc:
            return _Refused(_REFUSALS[exc.reason], 413 if exc.reason == "too_large" else 400)
        return SignatureMark(image_png=png)

    # -- POST /sign/{token}/decline --

    async def decline_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        secret = request.cookies.get(COOKIE)
        form = await request.form()
        reason = str(form.get("reason", ""))[:1000]
        ip, ua = self.client(request)

        def work(session: Session) -> dict[str, Any]:
            try:
                link, contract = open_link(session, token, clock=self.clock, lock=True)
                if not session_matches(link, secret):
                    return {"problem": LinkProblem.UNKNOWN}
                view: dict[str, Any] = {
                    "language": contract.language,
                    "terms": terms_of(contract),
                    "pages": contract.pages,
                }
                if not reason.strip():
                    view["need_reason"] = True
                    return view
                service.decline(
                    session,
                    link,
                    contract,
                    reason,
                    browser_secret=secret,
                    clock=self.clock,
                    ip=ip,
                    user_agent=ua,
                )
            except LinkError as exc:
                return {"problem": exc.problem}
            view["id"] = contract.id
            return view

        view = await self.run(work)
        lang = self.lang(request, view.get("language", "zh"))
        if "problem" in view:
            return _link_error(request, lang, view["problem"])
        if view.get("need_reason"):
            return self.contract_page(
                request, lang, view, _notice(PAGE[lang]["decline.need_reason"], True), 400
            )
        if self.on_declined is not None:
            try:
                await _maybe_await(self.on_declined(view["id"]))
            except Exception:
                log.exception("on_declined hook failed for contract %s", view["id"])
        response = _message(request, lang, PAGE[lang]["done.declined"], 200, "done")
        response.delete_cookie(COOKIE, path=self.base(request))
        return response

    # -- static files --

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        files = {"signing_pad.js": "text/javascript", "signing_page.css": "text/css"}
        if name not in files:
            return _secure(Response("not found", status_code=404, media_type="text/plain"))
        data = await run_in_threadpool((STATIC / name).read_bytes)
        return _secure(Response(data, media_type=files[name]))


def signing_routes(
    transaction: TransactionFactory,
    code_sender: CodeSender,
    signer: Signer,
    *,
    files: ContractFiles,
    clock: Clock | None = None,
    secure_cookies: bool = False,
    trust_proxy: bool = False,
    on_signed: ContractHook | None = None,
    on_declined: ContractHook | None = None,
) -> list[Route]:
    """The signing page's routes, to pass to ``web.app.create_app(extra_routes=...)``.

    Args:
        transaction: opens one unit of work (``storage.db.Database.transaction``).
        code_sender: delivers codes to the candidate's chat.
        signer: the sealing backend (``contracts.signing.build_signer``).
        files: the encrypted contract folder (the same one given to ``create_contract``).
        clock: time source (tests pass a FakeClock).
        secure_cookies: mark the session cookie ``Secure`` (true behind HTTPS).
        trust_proxy: take the client IP from ``X-Forwarded-For`` (behind a reverse proxy).
        on_signed: called with the contract id after sealing (send the PDF to the candidate
            and the HR group, schedule the expiry reminder).
        on_declined: called with the contract id after a decline (tell HR).
    """
    app = _Signing(
        transaction=transaction,
        code_sender=code_sender,
        signer=signer,
        files=files,
        clock=clock or SystemClock(),
        secure_cookies=secure_cookies,
        trust_proxy=trust_proxy,
        on_signed=on_signed,
        on_declined=on_declined,
    )
    return [
        Route("/sign/static/{name}", app.static, methods=["GET"]),
        Route("/sign/{token}", app.show, methods=["GET"]),
        Route("/sign/{token}/code/send", app.send_code, methods=["POST"]),
        Route("/sign/{token}/code", app.check_code, methods=["POST"]),
        Route("/sign/{token}/page/{n}.png", app.page_image, methods=["GET"]),
        Route("/sign/{token}/contract.pdf", app.contract_pdf, methods=["GET"]),
        Route("/sign/{token}/sign", app.sign, methods=["POST"]),
        Route("/sign/{token}/decline", app.decline_page, methods=["POST"]),
    ]
