"""HTML of the console: one layout, escaped values, strict headers, no script.

Pages are plain server-rendered HTML (no build step, no JavaScript): sorting, filters and
paging are links and GET forms; actions are POST forms with the CSRF token. Every value
goes through :func:`esc`; the CSP allows the console's own stylesheet and nothing else.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, Response

from dialogs.console.links import ConsoleSession
from dialogs.kernel.catalog import t

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; media-src 'self'; "
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


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def href(path: str, params: dict[str, str] | None = None) -> str:
    return esc(path + ("?" + urlencode(params) if params else ""))


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'


def post_form(action: str, cs: ConsoleSession, inner: str, css: str = "inline") -> str:
    return (
        f'<form method="post" action="{esc(action)}" class="{esc(css)}">'
        f"{hidden('csrf', cs.csrf)}{inner}</form>"
    )


def layout(
    lang: str, title: str, body: str, *, cs: ConsoleSession | None = None, path: str = "/console"
) -> str:
    """The page around ``body`` (already HTML): header with navigation, language, sign-out."""
    tools = ""
    if cs is not None:
        other = "en" if lang == "zh" else "zh"
        switch = post_form(
            "/console/lang",
            cs,
            hidden("lang", other)
            + hidden("next", path)
            + f'<button type="submit" lang="{"en" if other == "en" else "zh-CN"}">'
            f"{esc(t(lang, 'console_web.switch_lang'))}</button>",
        )
        out = post_form(
            "/console/logout",
            cs,
            f'<button type="submit">{esc(t(lang, "console_web.sign_out"))}</button>',
        )
        tools = (
            f'<nav aria-label="{esc(t(lang, "console_web.title"))}">'
            f'<a href="/console">{esc(t(lang, "console_web.nav_jobs"))}</a></nav>'
            f'<span class="who">{esc(t(lang, "console_web.signed_in_as", who=cs.actor))}</span>'
            f"{switch}{out}"
        )
    return (
        "<!doctype html>\n"
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{esc(title)} · {esc(t(lang, 'console_web.title'))}</title>"
        '<link rel="stylesheet" href="/console/static/console.css"></head><body>'
        f'<a class="skip" href="#main">{esc(t(lang, "console_web.skip"))}</a>'
        f'<header><span class="brand">{esc(t(lang, "console_web.title"))}</span>{tools}</header>'
        f'<main id="main">{body}</main></body></html>'
    )


def page(
    lang: str,
    title: str,
    body: str,
    *,
    cs: ConsoleSession | None = None,
    path: str = "/console",
    status: int = 200,
) -> Response:
    return secure(HTMLResponse(layout(lang, title, body, cs=cs, path=path), status_code=status))


def message(
    lang: str,
    text: str,
    status: int,
    *,
    cs: ConsoleSession | None = None,
    kind: str = "error",
    more: str = "",
) -> Response:
    """A page with one message; ``more``: HTML after it (e.g. other ways to sign in)."""
    body = f'<section class="card {esc(kind)}" role="alert"><p>{esc(text)}</p></section>'
    return page(lang, text[:60], body + more, cs=cs, status=status)


def table(caption: str, head: list[str], rows: list[list[str]], css: str = "") -> str:
    """A table; ``head`` cells are HTML (may hold sort links), ``rows`` cells are HTML."""
    ths = "".join(f'<th scope="col">{h}</th>' for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (
        # Focusable, so a table wider than a phone scrolls from the keyboard too.
        f'<div class="scroll" tabindex="0" role="region" aria-label="{esc(caption)}">'
        f'<table class="{esc(css)}"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table></div>"
    )


def num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"
