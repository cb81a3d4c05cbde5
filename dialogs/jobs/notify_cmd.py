"""``/notify [JOB] all|digest|results|off|auto``: how much of a job this HR group hears.

In a group bound to one job the job may be left out; with several bound, it is named.
The choice is the group's (``GroupBinding.notify``); the group scheduler reads it
(dialogs/kernel/groupposts.py). ``/notify`` alone tells the current setting.
"""

from __future__ import annotations

from sqlmodel import select

from dialogs.kernel.access import Access, bound_job, job_by_code
from dialogs.kernel.context import Ctx, Target
from dialogs.kernel.events import CommandReceived
from dialogs.kernel.feature import Command
from dialogs.kernel.groupqueue import MODES, effective_mode
from storage.models import GroupBinding


def _job_of_args(ctx: Ctx, args: str) -> Target:
    """``JOB MODE`` names the job; ``MODE`` alone (or nothing) means the group's one job."""
    words = args.split()
    if _names_job(words):
        return Target(job=job_by_code(ctx.session, words[0]), raw=words[0][:40])
    job = bound_job(ctx)
    return Target(job=job, raw=job.code if job else "")


def _names_job(words: list[str]) -> bool:
    return len(words) >= 2 or (len(words) == 1 and words[0].lower() not in MODES)


def mode_text(ctx: Ctx, binding: GroupBinding) -> str:
    """``digest`` or ``auto (now: digest)``, in the user's language."""
    name = ctx.text(f"notify.mode_{binding.notify}")
    if binding.notify != "auto":
        return name
    now = effective_mode(ctx.session, binding, ctx.settings.groups, ctx.now)
    return ctx.text("notify.auto_now", mode=name, now=ctx.text(f"notify.mode_{now}"))


def _notify(ctx: Ctx, ev: CommandReceived) -> None:
    if not ctx.event.is_group:
        ctx.reply("notify.group_only")
        return
    job = ctx.target.job
    if job is None:
        if ctx.target.named:
            ctx.reply("staff.job_unknown", code=ctx.target.raw)
        else:
            ctx.reply("notify.usage")
        return
    binding = ctx.session.exec(
        select(GroupBinding).where(
            GroupBinding.platform == ctx.event.platform,
            GroupBinding.chat_id == ctx.event.chat_id,
            GroupBinding.job_id == job.id,
        )
    ).first()
    if binding is None:
        ctx.reply("notify.not_bound", code=job.code)
        return
    words = ev.args.split()
    rest = words[1:] if _names_job(words) else words
    if not rest:
        ctx.reply("notify.current", code=job.code, mode=mode_text(ctx, binding))
        return
    wanted = rest[0].lower()
    if len(rest) > 1 or wanted not in MODES:
        ctx.reply("notify.usage")
        return
    binding.notify = wanted
    ctx.session.add(binding)
    ctx.audit("group_notify_set", f"job:{job.id}", chat=ctx.event.chat_id, mode=wanted)
    ctx.reply("notify.set", code=job.code, mode=mode_text(ctx, binding))


NOTIFY = Command(Access("configure_group", "job", _job_of_args), _notify)
