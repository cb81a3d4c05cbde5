"""Admin and HR commands, platform-neutral. Roles are checked here, in one place."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlmodel import col, func, select

from dialogs.jobs import newjob, question_import
from dialogs.jobs.notify_cmd import NOTIFY, mode_text
from dialogs.jobs.question_bank import QuestionKeyError, QuestionSpec, add_question
from dialogs.jobs.question_import import QuestionFileError
from dialogs.kernel.access import Access, EntryScope, check, job_arg, target_job
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived, FileReceived
from dialogs.kernel.feature import Command, CommandHandler, Dialog, Feature
from dialogs.kernel.notify import competency_label
from dialogs.kernel.roles import (
    ROLES,
    authorize,
    grant_row,
    in_config,
    parse_principal,
    permitted_job_ids,
    set_grant,
)
from storage.models import (
    Answer,
    Candidate,
    GroupBinding,
    InterviewSession,
    Job,
    JobQuestion,
    Question,
)


# ------------------------------------------------------------------ commands
def _help(ctx: Ctx, _ev: CommandReceived) -> None:
    ctx.reply("staff.help")


def _cancel(ctx: Ctx, _ev: CommandReceived) -> None:
    ctx.reply("staff.nothing_to_cancel")


def _newjob(ctx: Ctx, _ev: CommandReceived) -> None:
    newjob.begin(ctx)


def _jobs(ctx: Ctx, _ev: CommandReceived) -> None:
    """The jobs this user holds a role for (every job for global roles)."""
    event = ctx.event
    visible = permitted_job_ids(ctx.session, ctx.settings, event.platform, event.user_id, "view")
    query = select(Job).order_by(col(Job.id))
    if visible is not None:
        query = query.where(col(Job.id).in_(sorted(visible)))
    jobs = ctx.session.exec(query).all()
    if not jobs:
        ctx.reply("staff.jobs_none")
        return
    lines = []
    for job in jobs:
        questions = ctx.session.exec(
            select(func.count()).select_from(JobQuestion).where(JobQuestion.job_id == job.id)
        ).one()
        candidates = ctx.session.exec(
            select(func.count()).select_from(Candidate).where(Candidate.job_id == job.id)
        ).one()
        lines.append(
            ctx.text(
                "staff.jobs_line",
                code=job.code,
                title=job.title_zh if ctx.lang == "zh" else job.title_en,
                pass_line=f"{job.pass_line:g}",
                questions=questions,
                candidates=candidates,
            )
        )
        lines += _group_lines(ctx, job)
    ctx.say("\n".join(lines))


def _group_lines(ctx: Ctx, job: Job) -> list[str]:
    """What each HR group of the job hears (/notify): in a group, only this group's."""
    query = select(GroupBinding).where(GroupBinding.job_id == job.id)
    if ctx.event.is_group:
        query = query.where(
            GroupBinding.platform == ctx.event.platform, GroupBinding.chat_id == ctx.event.chat_id
        )
    return [
        ctx.text("notify.jobs_line", mode=mode_text(ctx, b))
        for b in ctx.session.exec(query.order_by(col(GroupBinding.id)))
    ]


def _questions(ctx: Ctx, ev: CommandReceived) -> None:
    query = (
        select(Question)
        .where(col(Question.active).is_(True))
        .order_by(col(Question.competency), col(Question.key))
    )
    if ev.args.strip():
        query = query.where(Question.competency == ev.args.strip().lower())
    rows = ctx.session.exec(query).all()
    lines = [ctx.text("staff.questions_header", count=len(rows))]
    for q in rows[:60]:
        text = q.text_zh if ctx.lang == "zh" else q.text_en
        lines.append(
            ctx.text(
                "staff.questions_line",
                key=q.key,
                competency=competency_label(q.competency, ctx.lang),
                text=text[:70],
            )
        )
    ctx.say("\n".join(lines))


def _addquestion(ctx: Ctx, ev: CommandReceived) -> None:
    parts = [p.strip() for p in ev.args.split("|")]
    if len(parts) < 3:
        ctx.reply("staff.usage_addquestion")
        return
    rubric = parts[3] if len(parts) > 3 else ""
    try:
        spec = QuestionSpec(
            competency=parts[0], zh=parts[1], en=parts[2], rubric_zh=rubric, rubric_en=rubric
        )
        question = add_question(ctx.session, spec)
    except (ValidationError, QuestionKeyError) as exc:
        problems = question_import.problems_text(ctx.lang, exc)
        ctx.say(ctx.text("staff.usage_addquestion") + "\n" + problems)
        return
    ctx.audit("question_added", f"question:{question.id}")
    ctx.reply("staff.question_added", key=question.key, competency=question.competency)


def import_questions_file(ctx: Ctx) -> bool:
    """A document no other importer took: a question bank file (CSV or YAML)."""
    event = ctx.event
    assert isinstance(event, FileReceived)
    if not check(ctx, _COMMANDS["importquestions"].access, ""):
        return True
    name = (event.media.file_name or "").lower()
    if not name.endswith((".csv", ".yaml", ".yml")) or not event.media.path:
        ctx.reply("staff.import_bad_file")
        return True
    if (event.media.size_bytes or 0) > question_import.MAX_BYTES:
        ctx.say(question_import.file_error_text(ctx.lang, question_import.too_big()))
        return True
    data = ctx.services.media.get(event.media.path)
    try:
        result = question_import.import_questions(ctx.session, data, name)
    except QuestionFileError as exc:
        ctx.say(question_import.file_error_text(ctx.lang, exc))
        return True
    ctx.audit("questions_imported", "", count=len(result.imported), errors=len(result.errors))
    ctx.say(question_import.result_text(ctx.lang, result))
    return True


def _importquestions(ctx: Ctx, _ev: CommandReceived) -> None:
    ctx.reply("staff.import_bad_file")


def _progress(ctx: Ctx, _ev: CommandReceived) -> None:
    job = target_job(ctx, "staff.usage_progress")
    if job is None:
        return
    ctx.audit("progress_viewed", f"job:{job.id}")
    ctx.say(progress_text(ctx, job))


def progress_text(ctx: Ctx, job: Job) -> str:
    candidates = ctx.session.exec(
        select(Candidate).where(Candidate.job_id == job.id).order_by(col(Candidate.id))
    ).all()
    total_q = ctx.session.exec(
        select(func.count()).select_from(JobQuestion).where(JobQuestion.job_id == job.id)
    ).one()
    started = sum(1 for c in candidates if c.status not in ("invited",))
    completed = sum(
        1 for c in candidates if c.status in ("completed", "approved", "rejected", "next_round")
    )
    lines = [
        ctx.text(
            "staff.progress_header",
            code=job.code,
            title=job.title_zh if ctx.lang == "zh" else job.title_en,
            invited=len(candidates),
            started=started,
            completed=completed,
        )
    ]
    if not candidates:
        lines.append(ctx.text("staff.progress_none"))
    for c in candidates[:50]:
        answered = ctx.session.exec(
            select(func.count(func.distinct(Answer.position)))
            .select_from(Answer)
            .join(InterviewSession, col(InterviewSession.id) == col(Answer.session_id))
            .where(
                InterviewSession.candidate_id == c.id,
                col(Answer.practice).is_(False),
                Answer.status != "superseded",
            )
        ).one()
        lines.append(
            ctx.text(
                "staff.progress_line",
                id=c.id,
                name=c.name,
                status=c.status,
                answered=answered,
                total=total_q,
            )
        )
    return "\n".join(lines)


def _bind(ctx: Ctx, ev: CommandReceived) -> None:
    if not ctx.event.is_group:
        ctx.reply("staff.bind_private")
        return
    job = target_job(ctx, "staff.usage_bind")
    if job is None:
        return
    exists = ctx.session.exec(
        select(GroupBinding).where(
            GroupBinding.platform == ctx.event.platform,
            GroupBinding.chat_id == ctx.event.chat_id,
            GroupBinding.job_id == job.id,
        )
    ).first()
    if exists is None:
        ctx.session.add(
            GroupBinding(
                platform=ctx.event.platform,
                chat_id=ctx.event.chat_id,
                job_id=job.id or 0,
                language=ctx.lang,
                created_at=ctx.now,
            )
        )
    ctx.audit("group_bound", f"job:{job.id}", chat=ctx.event.chat_id)
    ctx.reply("staff.bound", code=job.code)


def _role_scope_ok(ctx: Ctx, role: str | None) -> bool:
    """Admin roles and global grants are a global admin's to give or take: say so otherwise."""
    if role != "admin" and ctx.target.named:
        return True
    event = ctx.event
    verdict = authorize(
        ctx.session,
        ctx.settings,
        platform=event.platform,
        user_id=event.user_id,
        action="grant",
        scope="global",
    )
    if verdict.allowed:
        return True
    ctx.reply("access.admin_grants")
    ctx.audit("access_denied", f"role:{role or '-'}", reason="global_needed")
    return False


def _grant(ctx: Ctx, ev: CommandReceived) -> None:
    parts = ev.args.split()
    who = parse_principal(parts[0]) if parts else None
    if len(parts) not in (2, 3) or who is None or parts[1] not in ROLES:
        ctx.reply("staff.usage_grant")
        return
    job_id: int | None = None
    if len(parts) == 3:
        job = target_job(ctx, "staff.usage_grant")
        if job is None:
            return
        job_id = job.id
    if not _role_scope_ok(ctx, parts[1]):
        return
    platform, user_id = who
    set_grant(ctx.session, platform, user_id, parts[1], job_id, ctx.now)
    ctx.audit("role_granted", f"staff:{platform}:{user_id}", role=parts[1], job_id=job_id)
    ctx.reply(
        "staff.granted",
        who=f"{platform}:{user_id}",
        role=parts[1],
        scope=f" ({parts[2]})" if len(parts) == 3 else "",
    )


def _revoke(ctx: Ctx, ev: CommandReceived) -> None:
    """``/revoke platform:user [JOB]``: take back the role held globally or for JOB."""
    parts = ev.args.split()
    who = parse_principal(parts[0]) if parts else None
    if len(parts) not in (1, 2) or who is None:
        ctx.reply("staff.usage_revoke")
        return
    job_id: int | None = None
    if len(parts) == 2:
        job = target_job(ctx, "staff.usage_revoke")
        if job is None:
            return
        job_id = job.id
    platform, user_id = who
    row = grant_row(ctx.session, platform, user_id, job_id)
    if not _role_scope_ok(ctx, row.role if row else None):
        return
    scope = f" ({parts[1]})" if len(parts) == 2 else ""
    if row is None:
        config = in_config(ctx.settings, f"{platform}:{user_id}")
        key = "staff.revoke_config" if config else "staff.revoke_none"
        ctx.reply(key, who=f"{platform}:{user_id}", scope=scope)
        return
    ctx.session.delete(row)
    ctx.audit("role_revoked", f"staff:{platform}:{user_id}", role=row.role, job_id=job_id)
    ctx.reply("staff.revoked", who=f"{platform}:{user_id}", role=row.role, scope=scope)


def _tz(ctx: Ctx) -> ZoneInfo:
    return ZoneInfo(ctx.settings.app.timezone)


def _cmd(action: str, scope: EntryScope, handler: CommandHandler, **kw: Any) -> Command:
    return Command(Access(action, scope, **kw), handler)


_COMMANDS: dict[str, Command] = {
    "help": _cmd("view", "any", _help),
    "cancel": _cmd("view", "any", _cancel),
    "newjob": _cmd("manage_jobs", "global", _newjob),
    "jobs": _cmd("view", "any", _jobs),
    "questions": _cmd("view", "any", _questions),
    "addquestion": _cmd("manage_questions", "global", _addquestion),
    "importquestions": _cmd("manage_questions", "global", _importquestions),
    "progress": _cmd("view", "job", _progress, resolver=job_arg(0, bound=True)),
    "bind": _cmd("bind", "job", _bind, resolver=job_arg(0)),
    "notify": NOTIFY,
    "grant": _cmd("grant", "job_or_global", _grant, resolver=job_arg(2)),
    "revoke": _cmd("grant", "job_or_global", _revoke, resolver=job_arg(1)),
}

FEATURE = Feature(
    "staff",
    commands=_COMMANDS,
    dialogs={"newjob": Dialog(_COMMANDS["newjob"].access, newjob.step)},
    file_fallback=import_questions_file,
)
