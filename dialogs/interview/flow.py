"""The candidate's interview: invitation -> language -> consent -> identity ->
practice -> questions (one re-record each) -> review -> done.

State lives in ``InterviewSession`` rows, so a restart or a second engine instance
carries on where the first stopped.

One module (about 850 lines): the interview's state machine, each state's step beside
the prompt that asks for it, so a change to one step is read and made in one place.
What is not the state machine lives beside it: the plan (``plan.py``), scoring jobs
(``pipeline.py``), HR's follow-ups (``followup.py``), the nudge (``timed.py``).
"""

from __future__ import annotations

import hmac
import logging
import re
import unicodedata
from urllib.parse import urlparse

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, func, select

from core.clock import as_utc
from dialogs.interview import coding_answer, timed
from dialogs.interview.plan import PlanItem, interview_plan
from dialogs.kernel import notify
from dialogs.kernel.access import parse_id
from dialogs.kernel.catalog import normalize_language
from dialogs.kernel.channel import AnswerLimits
from dialogs.kernel.context import Ctx, Services
from dialogs.kernel.events import (
    ButtonPressed,
    CommandReceived,
    FileReceived,
    MediaRejected,
    TextReceived,
    UnsupportedReceived,
    VideoReceived,
    VoiceReceived,
)
from dialogs.kernel.feature import CandidateFlow, Feature
from dialogs.kernel.intents import Button, Intent
from dialogs.kernel.text import visible
from storage.db import table_of
from storage.models import (
    Answer,
    Candidate,
    ChannelIdentity,
    InterviewSession,
    Invitation,
    Job,
)

log = logging.getLogger(__name__)

FINAL_STATES = {"done", "declined", "locked"}
PRACTICE_POSITION = -1
# What "/language X" may name; a bare "/language" switches to the other one.
_LANGUAGE_ARGS = {
    **dict.fromkeys(("zh", "cn", "chinese", "中文", "汉语", "普通话"), "zh"),
    **dict.fromkeys(("en", "english", "英文", "英语"), "en"),
}
# Identity codes are six digits (dialogs/invitations/invites.py); fullwidth digits count as typed.
_IDENTITY_CODE = re.compile(r"[0-9]{6}")

# Statements of the per-answer path, built once (building one per call costs ~0.25 ms).
_ACTIVE_SESSION = (
    select(InterviewSession)
    .where(
        InterviewSession.platform == bindparam("platform"),
        InterviewSession.user_id == bindparam("user_id"),
    )
    .order_by(col(InterviewSession.id).desc())
    .limit(1)
    .with_for_update()
)
_ANSWERS = table_of(Answer)
_ATTEMPTS = (
    core_select(func.count())
    .select_from(_ANSWERS)
    .where(_ANSWERS.c.session_id == bindparam("session_id"))
    .where(_ANSWERS.c.position == bindparam("position"))
)
_IDENTITY_OF = select(ChannelIdentity).where(
    ChannelIdentity.platform == bindparam("platform"),
    ChannelIdentity.user_id == bindparam("user_id"),
)


# ------------------------------------------------------------------ consent notice
def handler_name(ctx: Ctx) -> str:
    """Who processes the data (PIPL Art. 17: the handler's name and contact)."""
    employer = ctx.settings.employer
    if not employer.name:
        return ctx.text("consent.handler_default")
    return f"{employer.name} ({employer.phone})" if employer.phone else employer.name


def ai_notice(ctx: Ctx) -> str:
    """The notice's sentence on where answers are scored (an API LLM gets transcripts)."""
    llm = ctx.settings.llm
    if llm.provider == "openai_compatible":
        return ctx.text("consent.ai_remote", host=urlparse(llm.base_url).hostname or "?")
    return ctx.text("consent.ai_local")


# ------------------------------------------------------------------ entry points
def start(ctx: Ctx, token: str) -> None:
    """A candidate opened an invitation link (Telegram /start, WeChat QR scene)."""
    session = ctx.session
    inv = ctx.services.features.find_invitation(session, token)
    if inv is None:
        ctx.reply("invite.invalid")
        return
    existing = session.exec(
        select(InterviewSession).where(InterviewSession.candidate_id == inv.candidate_id)
    ).first()
    if existing is not None:
        if existing.platform == ctx.event.platform and existing.user_id == ctx.event.user_id:
            ctx.lang = existing.language
            if existing.state == "declined":
                _restart_after_decline(ctx, existing)
                return
            prompt_current(ctx, existing)
        else:
            ctx.reply("invite.used")
            ctx.audit("invitation_reuse_refused", f"candidate:{inv.candidate_id}")
        return
    if inv.status in ("revoked", "expired") or as_utc(inv.expires_at) <= ctx.now:
        if inv.status == "pending" or inv.status == "opened":
            inv.status = "expired"
            session.add(inv)
            ctx.funnel(inv.candidate_id, inv.job_id, "expired")
        ctx.reply("invite.expired")
        return
    candidate = session.get(Candidate, inv.candidate_id)
    job = session.get(Job, inv.job_id)
    if candidate is None or job is None or candidate.status == "deleted":
        ctx.reply("invite.invalid")
        return
    ident = _identity(ctx)
    ident.candidate_id = candidate.id
    session.add(ident)
    s = InterviewSession(
        candidate_id=inv.candidate_id,
        job_id=inv.job_id,
        invitation_id=inv.id or 0,
        platform=ctx.event.platform,
        chat_id=ctx.event.chat_id,
        user_id=ctx.event.user_id,
        language=normalize_language(ctx.event.language_hint, job.default_language),
        state="language",
        started_at=ctx.now,
        updated_at=ctx.now,
    )
    session.add(s)
    inv.status = "opened"
    inv.opened_at = ctx.now
    session.add(inv)
    session.flush()
    ctx.funnel(inv.candidate_id, inv.job_id, "opened")
    ctx.audit("interview_opened", f"candidate:{inv.candidate_id}")
    ctx.lang = s.language
    prompt_current(ctx, s)


def session_for(session: Session, platform: str, user_id: str) -> InterviewSession | None:
    return session.exec(
        select(InterviewSession)
        .where(InterviewSession.platform == platform, InterviewSession.user_id == user_id)
        .order_by(col(InterviewSession.id).desc())
    ).first()


def active_session(ctx: Ctx) -> InterviewSession | None:
    # Row lock on PostgreSQL: two events of one candidate never interleave.
    params = {"platform": ctx.event.platform, "user_id": ctx.event.user_id}
    return ctx.session.exec(_ACTIVE_SESSION, params=params).first()


def handle(ctx: Ctx, s: InterviewSession) -> None:
    """Any event from a candidate who has an interview session."""
    ctx.lang = s.language
    event = ctx.event
    if isinstance(event, CommandReceived):
        _command(ctx, s, event)
        return
    if s.state in FINAL_STATES:
        ctx.reply(
            {"done": "closing.already", "declined": "closing.declined", "locked": "closing.locked"}[
                s.state
            ]
        )
        return
    if isinstance(event, UnsupportedReceived):
        ctx.reply("common.unsupported")
        return
    if isinstance(event, FileReceived) and not _code_expected(ctx, s):
        ctx.reply("common.file_unexpected")
        return
    owner = ctx.services.features.candidate_step(s.state)
    if owner is not None:  # a state another feature owns (contract details ...)
        owner(ctx, s)
        return
    step = {
        "language": _on_language,
        "consent": _on_consent,
        "sensitive": _on_sensitive,
        "identity": _on_identity,
        "practice": _on_practice,
        "question": _on_question,
        "review": _on_review,
    }[s.state]
    step(ctx, s)


def current_limits(
    session: Session, services: Services, platform: str, user_id: str
) -> AnswerLimits | None:
    s = session_for(session, platform, user_id)
    if s is None or s.state not in ("question", "practice"):
        return None
    settings = services.settings.interview
    if s.state == "practice":
        return AnswerLimits(
            settings.max_answer_seconds, settings.max_media_bytes, ("voice", "video", "text")
        )
    items = interview_plan(session, s)
    if s.question_index >= len(items):
        return None
    item = items[s.question_index]
    if "code" in item.modes:  # a source file, fetched only up to a solution's size
        return AnswerLimits(item.time_limit_s, coding_answer.MAX_FILE_BYTES, item.modes)
    return AnswerLimits(
        min(item.time_limit_s, settings.max_answer_seconds), settings.max_media_bytes, item.modes
    )


# ------------------------------------------------------------------ prompts
def system_ctx(
    session: Session, services: Services, s: InterviewSession, action: str = "system"
) -> Ctx:
    """A context for messages the system sends a candidate outside any event (jobs, reminders)."""
    event = CommandReceived(
        event_id=f"system:{action}",
        platform=s.platform,
        chat_id=s.chat_id,
        user_id=s.user_id,
        command=action,
    )
    return Ctx(session=session, event=event, services=services, lang=s.language)


def prompt_intents(session: Session, services: Services, s: InterviewSession) -> list[Intent]:
    """What :func:`prompt_current` would send, as intents (for background jobs)."""
    ctx = system_ctx(session, services, s)
    prompt_current(ctx, s)
    return ctx.intents


def prompt_current(ctx: Ctx, s: InterviewSession) -> None:
    """(Re-)send whatever the candidate should answer now."""
    ctx.lang = s.language
    if s.state == "language":
        job = _job(ctx, s)
        ctx.reply(
            "invite.choose_language",
            job=job.title_zh if s.language == "zh" else job.title_en,
            buttons=[
                [
                    Button(label=ctx.text("invite.lang_zh"), data="lang:zh"),
                    Button(label=ctx.text("invite.lang_en"), data="lang:en"),
                ]
            ],
        )
    elif s.state == "consent":
        ctx.reply(
            "consent.notice",
            version=ctx.settings.security.notice_version,
            job=_job_title(ctx, _job(ctx, s)),
            media_days=ctx.settings.retention.media_days_after_decision,
            record_days=ctx.settings.retention.rejected_record_days,
            unfinished_days=ctx.settings.retention.unfinished_days,
            ai=ai_notice(ctx),
            handler=handler_name(ctx),
            buttons=[
                [
                    Button(label=ctx.text("consent.agree"), data="consent:yes"),
                    Button(label=ctx.text("consent.decline"), data="consent:no"),
                ]
            ],
        )
    elif s.state == "sensitive":
        ctx.reply(
            "consent.sensitive",
            buttons=[
                [
                    Button(label=ctx.text("consent.sensitive_yes"), data="sens:yes"),
                    Button(label=ctx.text("consent.sensitive_no"), data="sens:no"),
                ]
            ],
        )
    elif s.state == "identity":
        ctx.reply("identity.ask")
    elif s.state == "practice":
        ctx.reply(
            "practice.ask",
            buttons=[[Button(label=ctx.text("practice.skip"), data="practice:skip")]],
        )
    elif s.state == "question":
        _ask_question(ctx, s)
    elif s.state == "review":
        _offer_review(ctx, s)
    elif (owner := ctx.services.features.candidate_prompt(s.state)) is not None:
        owner(ctx, s)  # a state another feature owns (the booking step ...)
    elif s.state == "done":
        ctx.reply("closing.already")
    elif s.state == "declined":
        ctx.reply("closing.declined")
    elif s.state == "locked":
        ctx.reply("closing.locked")


def _ask_question(
    ctx: Ctx, s: InterviewSession, *, before: str = "", buttons: list[list[Button]] | None = None
) -> None:
    """Send the current question; ``before`` (e.g. the last answer's receipt) goes in the
    same message, so one answer costs one message (Telegram allows 30 a second)."""
    items = _plan(ctx, s)
    item = items[s.question_index]
    limit = min(item.time_limit_s, ctx.settings.interview.max_answer_seconds)
    if "code" in item.modes:  # written at leisure: the question's own time
        limit = item.time_limit_s
    text = item.text(s.language)
    if item.followup:
        text = ctx.text("question.followup", text=text)
    body = ctx.text(
        "question.ask",
        n=s.question_index + 1,
        total=len(items),
        competency=notify.competency_label(item.competency, s.language),
        limit=limit,
        text=text,
    )
    if "code" in item.modes:
        body += "\n\n" + coding_answer.prompt(ctx, s, item)
    else:
        body += "\n" + ctx.text("question.modes", modes=_modes_text(ctx, _allowed_modes(s, item)))
    ctx.say(f"{before}\n\n{body}" if before else body, buttons=buttons)


def _offer_review(ctx: Ctx, s: InterviewSession) -> None:
    last = _last_answer(ctx.session, s, s.question_index - 1)
    buttons: list[list[Button]] = []
    if last is not None and _rerecords_left(ctx, s, last.position) > 0:
        buttons.append(
            [Button(label=ctx.text("question.rerecord", n=last.position + 1), data=f"rr:{last.id}")]
        )
    buttons.append([Button(label=ctx.text("closing.submit"), data="submit")])
    ctx.reply("closing.review", buttons=buttons)


# ------------------------------------------------------------------ steps
def _on_language(ctx: Ctx, s: InterviewSession) -> None:
    event = ctx.event
    choice: str | None = None
    if isinstance(event, ButtonPressed) and event.data in ("lang:zh", "lang:en"):
        choice = event.data.split(":", 1)[1]
        ctx.answer_button()
    elif isinstance(event, TextReceived):
        lowered = event.text.strip().lower()
        if lowered in ("中文", "zh", "chinese", "汉语", "普通话"):
            choice = "zh"
        elif lowered in ("english", "en", "英文", "英语"):
            choice = "en"
    if choice is None:
        _out_of_place(ctx, s)
        return
    s.language = choice
    ctx.lang = choice
    _identity(ctx).language = choice
    _move(ctx, s, "consent")


def _on_consent(ctx: Ctx, s: InterviewSession) -> None:
    event = ctx.event
    if not (isinstance(event, ButtonPressed) and event.data in ("consent:yes", "consent:no")):
        _out_of_place(ctx, s)
        return
    ctx.answer_button()
    if event.data == "consent:no":
        _decline(ctx, s)
        return
    s.consent_at = ctx.now
    s.consent_version = ctx.settings.security.notice_version
    ctx.audit("consent_given", f"candidate:{s.candidate_id}", version=s.consent_version)
    _move(ctx, s, "sensitive")


def _on_sensitive(ctx: Ctx, s: InterviewSession) -> None:
    event = ctx.event
    if not (isinstance(event, ButtonPressed) and event.data in ("sens:yes", "sens:no")):
        _out_of_place(ctx, s)
        return
    ctx.answer_button()
    s.sensitive_consent = event.data == "sens:yes"
    ctx.audit(
        "sensitive_consent",
        f"candidate:{s.candidate_id}",
        given=s.sensitive_consent,
        version=s.consent_version,
    )
    if not s.sensitive_consent:
        ctx.reply("consent.text_only")
    _move(ctx, s, "identity")


def _on_identity(ctx: Ctx, s: InterviewSession) -> None:
    event = ctx.event
    if not isinstance(event, TextReceived):
        _out_of_place(ctx, s)
        return
    parts = event.text.strip()[:200].rsplit(maxsplit=1)
    if (
        len(event.text) > ctx.settings.interview.max_text_chars
        or len(parts) != 2
        or not visible(parts[0])
        or not _IDENTITY_CODE.fullmatch(unicodedata.normalize("NFKC", parts[1]))
    ):
        # No name-and-code pair: not a guess, so no try is used up; say what to send.
        _out_of_place(ctx, s)
        return
    candidate = ctx.session.get(Candidate, s.candidate_id)
    inv = ctx.session.get(Invitation, s.invitation_id)
    assert candidate is not None
    assert inv is not None
    name, code = parts
    ok = hmac.compare_digest(
        _norm(name).encode(), _norm(candidate.name).encode()
    ) & hmac.compare_digest(unicodedata.normalize("NFKC", code).encode(), inv.code.encode())
    if not ok:
        s.identity_tries += 1
        left = ctx.settings.interview.identity_max_tries - s.identity_tries
        ctx.audit("identity_failed", f"candidate:{s.candidate_id}", tries=s.identity_tries)
        if left <= 0:
            s.state = "locked"
            inv.status = "revoked"
            ctx.session.add(inv)
            _touch(ctx, s)
            ctx.reply("identity.locked")
            notify.hr(ctx, s.job_id, "hr.locked", id=s.candidate_id, tries=s.identity_tries)
            return
        _touch(ctx, s)
        ctx.reply("identity.wrong", left=left)
        return
    inv.status = "used"
    ctx.session.add(inv)
    candidate.status = "started"
    candidate.language = s.language
    ctx.session.add(candidate)
    ctx.funnel(s.candidate_id, s.job_id, "started")
    ctx.audit("identity_confirmed", f"candidate:{s.candidate_id}")
    ctx.reply("identity.ok", name=candidate.name)
    job = ctx.session.get(Job, s.job_id)
    assert job is not None
    notify.hr(ctx, s.job_id, "hr.started", id=s.candidate_id, name=candidate.name, job=job.title_zh)
    if ctx.services.features.before_questions(ctx, s):
        return  # e.g. the job has interview slots: the candidate books one first
    begin_questions(ctx, s)


def begin_questions(ctx: Ctx, s: InterviewSession) -> None:
    """Practice (if the job has it) or the first question; scheduling calls it when a slot begins."""
    job = ctx.session.get(Job, s.job_id)
    assert job is not None
    if job.practice_question and ctx.settings.interview.practice_question:
        _move(ctx, s, "practice")
    else:
        _move(ctx, s, "question")


def _on_practice(ctx: Ctx, s: InterviewSession) -> None:
    event = ctx.event
    if isinstance(event, ButtonPressed) and event.data == "practice:skip":
        ctx.answer_button()
        _move(ctx, s, "question")
        return
    if isinstance(event, MediaRejected):
        _media_rejected(ctx, s, event)
        return
    if isinstance(event, TextReceived | VoiceReceived | VideoReceived):
        if not _check_answer_input(ctx, s, None):
            return
        _store_answer(ctx, s, PRACTICE_POSITION, None, practice=True)
        ctx.reply("practice.done")
        _move(ctx, s, "question")
        return
    _out_of_place(ctx, s)


def _on_question(ctx: Ctx, s: InterviewSession) -> None:
    event = ctx.event
    if isinstance(event, ButtonPressed) and event.data.startswith("rr:"):
        _rerecord(ctx, s, event.data)
        return
    if isinstance(event, MediaRejected):
        _media_rejected(ctx, s, event)
        return
    if not isinstance(event, TextReceived | VoiceReceived | VideoReceived | FileReceived):
        _out_of_place(ctx, s)
        return
    items = _plan(ctx, s)
    item = items[s.question_index]
    if "code" in item.modes:
        code = coding_answer.accept(ctx, item)
        if code is None:
            return
        answer = _store_answer(ctx, s, s.question_index, item, code=code)
    elif isinstance(event, FileReceived):
        ctx.reply("common.file_unexpected")
        return
    elif not _check_answer_input(ctx, s, item):
        return
    else:
        answer = _store_answer(ctx, s, s.question_index, item)
    n = s.question_index + 1
    notify.hr(
        ctx, s.job_id, "hr.answered", id=s.candidate_id, n=n, total=len(items), kind=answer.kind
    )
    s.question_index += 1
    buttons: list[list[Button]] = []
    if s.question_index < len(items):
        if ctx.settings.interview.rerecords_per_question + 1 - answer.attempt > 0:
            buttons = [[Button(label=ctx.text("question.rerecord", n=n), data=f"rr:{answer.id}")]]
        _touch(ctx, s)
        _ask_question(ctx, s, before=ctx.text("question.received", n=n), buttons=buttons)
    else:
        ctx.reply("question.received", n=n)
        _move(ctx, s, "review")


def _on_review(ctx: Ctx, s: InterviewSession) -> None:
    event = ctx.event
    if isinstance(event, ButtonPressed) and event.data.startswith("rr:"):
        _rerecord(ctx, s, event.data)
        return
    if isinstance(event, ButtonPressed) and event.data == "submit":
        ctx.answer_button()
        _complete(ctx, s)
        return
    _out_of_place(ctx, s)


# ------------------------------------------------------------------ helpers
def _command(ctx: Ctx, s: InterviewSession, event: CommandReceived) -> None:
    if event.command in ("resume", "start"):
        prompt_current(ctx, s)
    elif event.command == "pause":
        ctx.reply("closing.paused")
    elif event.command == "help":
        ctx.reply("common.help_candidate")
    elif event.command == "review":
        ctx.audit("review_requested", f"candidate:{s.candidate_id}")
        ctx.reply("decision.review_requested")
        notify.hr(ctx, s.job_id, "decision.hr_review_requested", id=s.candidate_id)
    elif (step := ctx.services.features.candidate_command(event.command)) is not None:
        step(ctx, s)  # /mydata, /deleteme (the privacy feature)
    elif event.command == "language":
        wanted = _LANGUAGE_ARGS.get(event.args.strip().lower()) if event.args.strip() else None
        if event.args.strip() and wanted is None:
            ctx.reply("common.language_usage")  # "/language fr": nothing to switch to
            return
        if s.state in FINAL_STATES:
            prompt_current(ctx, s)
            return
        s.language = wanted or ("en" if s.language == "zh" else "zh")
        ctx.lang = s.language
        _identity(ctx).language = s.language
        _touch(ctx, s)
        prompt_current(ctx, s)
    else:
        ctx.reply("common.unknown_command")


def _out_of_place(ctx: Ctx, s: InterviewSession) -> None:
    """Input that does not fit the step: a short answer, nothing changes."""
    event = ctx.event
    if isinstance(event, ButtonPressed):
        ctx.answer_button(ctx.text("common.press_button"))
        return
    if isinstance(event, TextReceived) and len(event.text) > ctx.settings.interview.max_text_chars:
        ctx.reply(
            "common.too_long_text",
            length=len(event.text),
            limit=ctx.settings.interview.max_text_chars,
        )
        return
    if s.state in ("language", "consent", "sensitive", "review"):
        ctx.reply("common.press_button")
    elif s.state == "identity":
        ctx.reply("identity.ask")
    else:
        ctx.reply("common.unsupported")


def _check_answer_input(ctx: Ctx, s: InterviewSession, item: PlanItem | None) -> bool:
    """Refuse answers that break a limit; returns True if the answer may be stored."""
    event = ctx.event
    limits = ctx.settings.interview
    modes = _allowed_modes(s, item)
    if isinstance(event, TextReceived):
        text = event.text.strip()
        if not visible(text):
            ctx.reply("question.empty")
            return False
        if len(text) > limits.max_text_chars:
            ctx.reply("common.too_long_text", length=len(text), limit=limits.max_text_chars)
            return False
        if "text" not in modes:
            ctx.reply("question.mode_not_allowed", modes=_modes_text(ctx, modes))
            return False
        return True
    assert isinstance(event, VoiceReceived | VideoReceived)
    kind = "voice" if isinstance(event, VoiceReceived) else "video"
    if not s.sensitive_consent:
        ctx.reply("question.text_only_reminder")
        return False
    if kind not in modes:
        ctx.reply("question.mode_not_allowed", modes=_modes_text(ctx, modes))
        return False
    limit_s = min(
        item.time_limit_s if item else limits.max_answer_seconds, limits.max_answer_seconds
    )
    media = event.media
    if media.size_bytes is not None and media.size_bytes > limits.max_media_bytes:
        ctx.reply(
            "question.too_large_media",
            size_mb=round(media.size_bytes / 1e6, 1),
            limit_mb=round(limits.max_media_bytes / 1e6),
        )
        return False
    if media.duration_s is not None and media.duration_s > limit_s + 1:
        ctx.reply("question.too_long_media", duration=round(media.duration_s), limit=limit_s)
        return False
    if not media.path:
        ctx.reply("question.download_failed")
        return False
    return True


def _store_answer(
    ctx: Ctx,
    s: InterviewSession,
    position: int,
    item: PlanItem | None,
    *,
    practice: bool = False,
    code: str | None = None,
) -> Answer:
    event = ctx.event
    previous = _attempts(ctx.session, s, position)
    answer = Answer(
        session_id=s.id or 0,
        question_id=item.question_id if item else None,
        question_text=item.text(s.language) if item else "",
        competency=item.competency if item else "",
        position=position,
        attempt=int(previous) + 1,
        kind="text",
        practice=practice,
        created_at=ctx.now,
    )
    if code is not None:  # a coding question's answer, from a message or a file
        answer.kind = "code"
        answer.text = code
    elif isinstance(event, TextReceived):
        answer.text = event.text.strip().replace("\x00", "")  # PostgreSQL text holds no NUL
    else:
        assert isinstance(event, VoiceReceived | VideoReceived)
        answer.kind = "voice" if isinstance(event, VoiceReceived) else "video"
        answer.media_path = event.media.path
        answer.media_sha256 = event.media.sha256
        answer.duration_s = event.media.duration_s
    ctx.session.add(answer)
    ctx.session.flush()
    if item is not None and item.redo_of is not None:
        old = ctx.session.get(Answer, item.redo_of)
        if old is not None:
            old.status = "superseded"
            ctx.session.add(old)
    if not practice:
        if answer.kind == "code":  # judged in the sandbox by the ``code`` job
            ctx.enqueue("code", {"answer_id": answer.id}, key=f"code:{answer.id}")
        elif answer.kind == "text":
            ctx.enqueue("evaluate", {"answer_id": answer.id}, key=f"evaluate:{answer.id}")
        else:
            ctx.enqueue("transcribe", {"answer_id": answer.id}, key=f"transcribe:{answer.id}")
    ctx.audit(
        "answer_stored",
        f"candidate:{s.candidate_id}",
        position=position,
        kind=answer.kind,
        attempt=answer.attempt,
    )
    return answer


def _rerecords_left(ctx: Ctx, s: InterviewSession, position: int) -> int:
    used = _attempts(ctx.session, s, position)
    return ctx.settings.interview.rerecords_per_question + 1 - used


def _attempts(session: Session, s: InterviewSession, position: int) -> int:
    """Answers given so far at ``position`` (superseded ones included)."""
    session.flush()  # answers added in this unit of work count too
    return int(session.execute(_ATTEMPTS, {"session_id": s.id, "position": position}).scalar_one())


def _rerecord(ctx: Ctx, s: InterviewSession, data: str) -> None:
    answer_id = parse_id(data.split(":", 1)[1])
    answer = ctx.session.get(Answer, answer_id) if answer_id is not None else None
    if (
        answer is None
        or answer.session_id != s.id
        or answer.position != s.question_index - 1
        or answer.status == "superseded"
    ):
        ctx.answer_button(ctx.text("question.rerecord_gone"), alert=True)
        return
    if _rerecords_left(ctx, s, answer.position) <= 0:
        ctx.answer_button(ctx.text("question.rerecord_used"), alert=True)
        return
    ctx.answer_button()
    answer.status = "superseded"
    ctx.session.add(answer)
    s.question_index = answer.position
    ctx.audit("rerecord", f"candidate:{s.candidate_id}", position=answer.position)
    ctx.reply("question.rerecord_go", n=answer.position + 1)
    _move(ctx, s, "question")


def _media_rejected(ctx: Ctx, s: InterviewSession, event: MediaRejected) -> None:
    limits = ctx.settings.interview
    if event.reason == "too_large":
        ctx.reply(
            "question.too_large_media",
            size_mb=round((event.media.size_bytes or 0) / 1e6, 1),
            limit_mb=round(limits.max_media_bytes / 1e6),
        )
    elif event.reason == "too_long":
        limit = limits.max_answer_seconds  # the practice question's limit
        if s.state == "question":
            limit = min(_plan(ctx, s)[s.question_index].time_limit_s, limit)
        ctx.reply(
            "question.too_long_media", duration=round(event.media.duration_s or 0), limit=limit
        )
    elif event.reason == "wrong_type":
        ctx.reply("question.wrong_type")
    else:
        ctx.reply("question.download_failed")


def _complete(ctx: Ctx, s: InterviewSession) -> None:
    s.state = "done"
    s.completed_at = ctx.now
    _touch(ctx, s)
    candidate = ctx.session.get(Candidate, s.candidate_id)
    job = ctx.session.get(Job, s.job_id)
    assert candidate is not None
    assert job is not None
    candidate.status = "completed"
    ctx.session.add(candidate)
    ctx.funnel(s.candidate_id, s.job_id, "completed")
    ctx.audit("interview_completed", f"candidate:{s.candidate_id}")
    ctx.reply("closing.done", name=candidate.name)
    notify.hr(
        ctx, s.job_id, "hr.completed", id=s.candidate_id, name=candidate.name, job=job.title_zh
    )
    ctx.enqueue("interview_completed", {"session_id": s.id}, key=f"completed:{s.id}")


def _decline(ctx: Ctx, s: InterviewSession) -> None:
    s.state = "declined"
    _touch(ctx, s)
    ctx.audit(
        "consent_declined",
        f"candidate:{s.candidate_id}",
        version=ctx.settings.security.notice_version,
    )
    ctx.reply("consent.declined")
    notify.hr(ctx, s.job_id, "hr.declined", id=s.candidate_id)


def _restart_after_decline(ctx: Ctx, s: InterviewSession) -> None:
    """Opening the link again after declining asks for consent again."""
    s.state = "consent"
    _touch(ctx, s)
    prompt_current(ctx, s)


def _move(ctx: Ctx, s: InterviewSession, state: str) -> None:
    s.state = state
    _touch(ctx, s)
    prompt_current(ctx, s)


def _touch(ctx: Ctx, s: InterviewSession) -> None:
    s.updated_at = ctx.now
    ctx.session.add(s)


def _identity(ctx: Ctx) -> ChannelIdentity:
    event = ctx.event
    params = {"platform": event.platform, "user_id": event.user_id}
    ident = ctx.session.exec(_IDENTITY_OF, params=params).first()
    if ident is None:
        ident = ChannelIdentity(
            platform=event.platform, user_id=event.user_id, chat_id=event.chat_id
        )
    ident.chat_id = event.chat_id
    ident.last_seen_at = ctx.now
    ctx.session.add(ident)
    return ident


def _last_answer(session: Session, s: InterviewSession, position: int) -> Answer | None:
    return session.exec(
        select(Answer)
        .where(
            Answer.session_id == s.id, Answer.position == position, Answer.status != "superseded"
        )
        .order_by(col(Answer.id).desc())
    ).first()


def _plan(ctx: Ctx, s: InterviewSession) -> list[PlanItem]:
    """The interview plan, read once per event (follow-ups change its length)."""
    key = ("plan", s.id, len(s.extra_questions))
    if key not in ctx.memo:
        ctx.memo[key] = interview_plan(ctx.session, s)
    plan: list[PlanItem] = ctx.memo[key]
    return plan


def _allowed_modes(s: InterviewSession, item: PlanItem | None) -> tuple[str, ...]:
    modes = item.modes if item else ("voice", "video", "text")
    if not s.sensitive_consent:  # no voice or video: text (and code) only
        return tuple(m for m in modes if m in ("text", "code")) or ("text",)
    return modes


def _modes_text(ctx: Ctx, modes: tuple[str, ...]) -> str:
    sep = "、" if ctx.lang == "zh" else ", "
    return sep.join(ctx.text(f"question.mode_{m}") for m in modes)


def _code_expected(ctx: Ctx, s: InterviewSession) -> bool:
    """A file is an answer only to a coding question being asked."""
    if s.state != "question":
        return False
    items = _plan(ctx, s)
    return s.question_index < len(items) and "code" in items[s.question_index].modes


def _job(ctx: Ctx, s: InterviewSession) -> Job:
    job = ctx.session.get(Job, s.job_id)
    assert job is not None
    return job


def _job_title(ctx: Ctx, job: Job) -> str:
    return job.title_zh if ctx.lang == "zh" else job.title_en


def _norm(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


FEATURE = Feature(
    "interview",
    candidate_flow=CandidateFlow(
        active_session=active_session,
        handle=handle,
        start=start,
        limits=current_limits,
        begin_questions=begin_questions,
    ),
    reminders=timed.RULES,
    planners=(timed.plan_nudges,),
)
