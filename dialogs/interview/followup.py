"""Live intervention: HR adds a follow-up question to a running interview.

``/ask <candidate> [competency:] <question>``, or the "Ask a follow-up" button
(``ask:<candidate>``) on the HR progress posts, after which the next message from that
HR user in that chat is the question (a ``ConversationState`` with flow ``ask``).

The question joins ``InterviewSession.extra_questions`` the way re-asks do (see
``dialogs/interview/pipeline.py``): while the candidate answers question ``i`` it becomes question
``i + 1``; if they already answered everything and are reviewing, it is asked at once.
The answer is stored, transcribed and scored like any other, for the current question's
competency unless HR names one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlmodel import select

from core.clock import as_utc
from dialogs.interview import flow as interview
from dialogs.interview.plan import PlanItem, interview_plan
from dialogs.kernel.access import Access, candidate_arg, candidate_in_button, check
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import ButtonPressed, CommandReceived, TextReceived
from dialogs.kernel.feature import ButtonEntry, Command, Dialog, Feature
from dialogs.kernel.intents import Button
from dialogs.kernel.notify import competency_label
from dialogs.kernel.text import visible
from storage.models import Candidate, ConversationState, InterviewSession, Job

FLOW = "ask"
MAX_CHARS = 1000
# A pressed "Ask a follow-up" waits this long for the question; later messages are ordinary chat.
PROMPT_TTL = dt.timedelta(minutes=15)
_PREFIX = re.compile(r"^\s*([^:：\n]{1,40}?)\s*[:：]\s*(.+)$", re.DOTALL)


def ask_buttons(lang: str, values: dict[str, Any]) -> list[list[Button]]:
    """The button HR progress posts carry (declared in :data:`FEATURE`)."""
    return [[Button(label=t(lang, "followup.button"), data=f"ask:{values['id']}")]]


# ------------------------------------------------------------------ entry points
def ask_command(ctx: Ctx, event: CommandReceived) -> None:
    """``/ask <candidate> [competency:] <question>``."""
    _head, _, rest = event.args.strip().partition(" ")
    candidate = ctx.target.candidate
    if candidate is None or not rest.strip():
        if candidate is None and ctx.target.named and rest.strip():
            ctx.reply("followup.unknown_candidate", id=ctx.target.raw[:20])
        else:
            ctx.reply("followup.usage")
        return
    add_followup(ctx, candidate.id or 0, rest)


def on_button(ctx: Ctx) -> None:
    """``ask:<candidate>``: the next message from this user in this chat is the question."""
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    parts = event.data.split(":")
    if ctx.target.candidate is None or len(parts) != 2:
        text = ctx.text("followup.unknown_candidate", id=ctx.target.raw[:20])
        ctx.answer_button(text, alert=True)
        return
    candidate_id = ctx.target.candidate.id or 0
    candidate = _permitted(ctx, candidate_id, alert=True)
    if candidate is None:
        return
    s = _session_of(ctx, candidate_id)
    problem = _closed_reason(s)
    if problem is not None:
        ctx.answer_button(
            ctx.text(problem, id=candidate_id, state=s.state if s else ""), alert=True
        )
        return
    state = _dialog(ctx)
    if state is not None and state.flow != FLOW:
        ctx.answer_button(ctx.text("followup.busy"), alert=True)
        return
    if state is None:
        state = ConversationState(
            platform=event.platform,
            chat_id=event.chat_id,
            user_id=event.user_id,
            flow=FLOW,
            step="question",
        )
    state.data = {"candidate_id": candidate_id}
    state.updated_at = ctx.now
    ctx.session.add(state)
    ctx.answer_button()
    ctx.reply("followup.prompt", id=candidate_id)


def step(ctx: Ctx, state: ConversationState) -> None:
    """The message after the button: the question (the router sends it here)."""
    event = ctx.event
    if as_utc(state.updated_at) + PROMPT_TTL < ctx.now:
        ctx.session.delete(state)  # stale: this message is ordinary chat, not a question
        return
    if not isinstance(event, TextReceived):
        ctx.reply("followup.text_only")
        return
    ctx.session.delete(state)
    add_followup(ctx, int(state.data.get("candidate_id", 0)), event.text)


# ------------------------------------------------------------------ the work
def add_followup(ctx: Ctx, candidate_id: int, raw: str) -> bool:
    """Insert HR's question after the candidate's current one; tell HR what happened.

    Returns:
        True if the question was added.
    """
    candidate = _permitted(ctx, candidate_id, alert=False)
    if candidate is None:
        return False
    job = ctx.session.get(Job, candidate.job_id)
    assert job is not None
    competency, text = _split_competency(job, raw.strip())
    if not visible(text):  # nothing a candidate could read (zero-width, controls ...)
        ctx.reply("followup.empty")
        return False
    if len(text) > MAX_CHARS:
        ctx.reply("followup.too_long", length=len(text), limit=MAX_CHARS)
        return False
    s = _session_of(ctx, candidate_id, lock=True)
    problem = _closed_reason(s)
    if problem is not None or s is None:
        ctx.reply(problem or "followup.not_started", id=candidate_id, state=s.state if s else "")
        return False
    items = interview_plan(ctx.session, s)
    if s.state == "question" and s.question_index < len(items):
        at, current, key = s.question_index + 1, items[s.question_index], "followup.added"
        while at < len(items) and items[at].followup:  # after follow-ups already waiting
            at += 1
    elif s.state in ("question", "review"):
        # Everything answered, not yet submitted: ask it now.
        at, current, key = s.question_index, items[-1], "followup.added_now"
    else:
        at, current, key = len(items), items[-1], "followup.added_later"
    extras = list(s.extra_questions)
    extras.append(_extra(at, competency or current.competency, text, current, ctx))
    s.extra_questions = extras
    back_to_question = s.state == "review" or (
        s.state == "question" and s.question_index >= len(items)
    )
    if back_to_question:
        s.state = "question"
    s.updated_at = ctx.now
    ctx.session.add(s)
    ctx.session.flush()
    if back_to_question:
        ctx.intents.extend(interview.prompt_intents(ctx.session, ctx.services, s))
    used = competency or current.competency
    ctx.audit(
        "followup_added",
        f"candidate:{candidate_id}",
        position=at,
        competency=used,
        chat=f"{ctx.event.platform}:{ctx.event.chat_id}",
    )
    ctx.reply(
        key,
        id=candidate_id,
        n=at + 1,
        total=len(items) + 1,
        competency=competency_label(used, ctx.lang),
    )
    return True


def _extra(at: int, competency: str, text: str, current: PlanItem, ctx: Ctx) -> dict[str, Any]:
    return {
        "at": at,
        "question_id": None,
        "competency": competency,
        "text_zh": text,
        "text_en": text,
        "time_limit_s": current.time_limit_s,
        "modes": list(current.modes),
        "followup": True,
        "by": ctx.actor,
        "added_at": ctx.now.isoformat(),
    }


def _split_competency(job: Job, raw: str) -> tuple[str | None, str]:
    """``"communication: How did ..."`` -> ("communication", "How did ...") if the job has it."""
    match = _PREFIX.match(raw)
    if match is None:
        return None, raw
    wanted = _norm(match.group(1))
    for c in job.competencies:
        name = str(c["name"])
        if wanted in {
            _norm(name),
            _norm(competency_label(name, "en")),
            _norm(competency_label(name, "zh")),
        }:
            return name, match.group(2).strip()
    return None, raw


def _norm(value: str) -> str:
    return "_".join(value.strip().casefold().replace("-", " ").split())


ASK = Access("ask", "candidate", candidate_arg(0))


def _permitted(ctx: Ctx, candidate_id: int, *, alert: bool) -> Candidate | None:
    """The candidate, if this user may add questions for their job; else says why.

    Checked again here because a follow-up typed after the button press arrives later.
    """
    if not check(ctx, ASK, str(candidate_id), button=alert):
        return None
    candidate = ctx.target.candidate
    if candidate is None or candidate.status == "deleted":
        text = ctx.text("followup.unknown_candidate", id=candidate_id)
        if alert:
            ctx.answer_button(text, alert=True)
        else:
            ctx.say(text)
        return None
    return candidate


def _session_of(ctx: Ctx, candidate_id: int, *, lock: bool = False) -> InterviewSession | None:
    query = select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
    if lock:
        query = query.with_for_update()  # the candidate's own events lock the same row
    return ctx.session.exec(query).first()


def _closed_reason(s: InterviewSession | None) -> str | None:
    if s is None:
        return "followup.not_started"
    if s.state == "done":
        return "followup.done"
    if s.state in interview.FINAL_STATES:
        return "followup.closed"
    return None


def _dialog(ctx: Ctx) -> ConversationState | None:
    event = ctx.event
    return ctx.session.exec(
        select(ConversationState).where(
            ConversationState.platform == event.platform,
            ConversationState.chat_id == event.chat_id,
            ConversationState.user_id == event.user_id,
        )
    ).first()


FEATURE = Feature(
    "followup",
    commands={"ask": Command(ASK, ask_command)},
    buttons={"ask": ButtonEntry(Access("ask", "candidate", candidate_in_button), on_button)},
    dialogs={"ask": Dialog(None, step)},
    post_buttons={"hr.started": ask_buttons, "hr.answered": ask_buttons},
)
