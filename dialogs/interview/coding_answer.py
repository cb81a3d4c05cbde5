"""A coding question in the chat: how it is asked (how to answer, the visible examples,
the starter code) and how a code answer is taken from a message or a file."""

from __future__ import annotations

import datetime as dt
import json
import secrets

from coding.languages import language
from coding.question import MAX_SOURCE_CHARS, CodingSpec
from dialogs.interview.plan import PlanItem
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import FileReceived, TextReceived
from storage.crypto import token_hash
from storage.models import CodingLink, InterviewSession, Question

MAX_FILE_BYTES = 200_000
MAX_EXAMPLE_CHARS = 300


def spec_of(ctx: Ctx, item: PlanItem) -> CodingSpec | None:
    question = ctx.session.get(Question, item.question_id) if item.question_id else None
    if question is None or not question.coding:
        return None
    return CodingSpec.model_validate(question.coding)


def page_link(ctx: Ctx, s: InterviewSession, item: PlanItem) -> str:
    """A new phone coding page for this question of this interview; its URL. The token
    is only in the URL (the database keeps its SHA-256); it is valid for the question's
    time or until the code is submitted (``web/coding_page.py``)."""
    token = secrets.token_urlsafe(24)
    ctx.session.add(
        CodingLink(
            token_hash=token_hash(token),
            session_id=s.id or 0,
            position=s.question_index,
            question_id=item.question_id or 0,
            expires_at=ctx.now + dt.timedelta(seconds=item.time_limit_s),
            created_at=ctx.now,
        )
    )
    return f"{ctx.settings.app.public_base_url.rstrip('/')}/code/{token}"


def prompt(ctx: Ctx, s: InterviewSession, item: PlanItem) -> str:
    spec = spec_of(ctx, item)
    if spec is None:
        return ctx.text("coding.how", language="-")
    parts = [ctx.text("coding.how", language=language(spec.language).name)]
    if item.question_id is not None:
        parts.append(ctx.text("coding.page_link", url=page_link(ctx, s, item)))
    for example in spec.examples:
        if example.call is not None:
            args = ", ".join(json.dumps(a, ensure_ascii=False) for a in example.call.args)
            parts.append(
                ctx.text(
                    "coding.example_call",
                    call=f"{example.call.function}({args})"[:MAX_EXAMPLE_CHARS],
                    result=json.dumps(example.expected, ensure_ascii=False)[:MAX_EXAMPLE_CHARS],
                )
            )
        else:
            parts.append(
                ctx.text(
                    "coding.example_io",
                    stdin=example.stdin[:MAX_EXAMPLE_CHARS].rstrip() or "-",
                    stdout=(example.expected_stdout or "")[:MAX_EXAMPLE_CHARS].rstrip() or "-",
                )
            )
    if spec.starter.strip():
        parts.append(ctx.text("coding.starter", code=spec.starter.rstrip()))
    return "\n\n".join(parts)


def strip_fences(text: str) -> str:
    """Code pasted between ``` fences (as chat apps format it) without the fences."""
    lines = text.strip("\n").split("\n")
    if len(lines) >= 2 and lines[0].strip().startswith("```") and lines[-1].strip() == "```":
        lines = lines[1:-1]
    return "\n".join(lines)


def accept(ctx: Ctx, item: PlanItem) -> str | None:
    """The code the candidate sent, or None after telling them what is wrong."""
    del item
    event = ctx.event
    if isinstance(event, TextReceived):
        code = strip_fences(event.text)
    elif isinstance(event, FileReceived):
        size = event.media.size_bytes or 0
        if not event.media.path or size > MAX_FILE_BYTES:
            ctx.reply("coding.file_too_large", limit_kb=MAX_FILE_BYTES // 1000)
            return None
        data = ctx.services.media.get(event.media.path)
        if len(data) > MAX_FILE_BYTES:
            ctx.reply("coding.file_too_large", limit_kb=MAX_FILE_BYTES // 1000)
            return None
        try:
            code = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            ctx.reply("coding.not_text")
            return None
    else:
        ctx.reply("coding.send_code")
        return None
    code = code.replace("\x00", "").replace("\r\n", "\n")
    if not code.strip():
        ctx.reply("question.empty")
        return None
    if len(code) > MAX_SOURCE_CHARS:
        ctx.reply("coding.too_long", length=len(code), limit=MAX_SOURCE_CHARS)
        return None
    return code
