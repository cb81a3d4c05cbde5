"""``/audit [JOB]``: HR's audit of the scorer on one job's answers.

Score distributions by answer mode (voice, video, text) and language, the gap between
group means, and a warning when a group's pass rate is below four fifths of the best
group's (``scoring.audit``). Candidate groups from a CSV are offered on the command line
(``main.py audit JOB --groups FILE``): the bot never asks candidates for them.
"""

from __future__ import annotations

from dialogs.hiring.human_scores import job_from_args
from dialogs.kernel.access import Access, job_arg
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived
from dialogs.kernel.feature import Command, Feature
from scoring.audit import DimensionAudit
from scoring.audit_data import audit_job


def audit_text(ctx: Ctx, audits: list[DimensionAudit], code: str, pass_line: float) -> str:
    """The audit as chat lines in the user's language."""
    lines = [ctx.text("scorer_audit.header", code=code, pass_line=f"{pass_line:g}")]
    for audit in audits:
        if not audit.groups:
            lines.append(
                ctx.text(f"scorer_audit.dim_{audit.dimension}")
                + ": "
                + ctx.text("scorer_audit.none")
            )
            continue
        lines.append(
            ctx.text(f"scorer_audit.dim_{audit.dimension}")
            + " · "
            + ctx.text("scorer_audit.gap", gap=f"{audit.gap:g}")
        )
        for g in audit.groups:
            ratio = "-" if g.impact_ratio is None else f"{g.impact_ratio:.2f}"
            lines.append(
                ctx.text(
                    "scorer_audit.group",
                    name=ctx.text(f"scorer_audit.name_{g.name}") if g.name in _NAMED else g.name,
                    n=g.n,
                    mean=f"{g.mean:g}",
                    median=f"{g.median:g}",
                    rate=f"{g.pass_rate:.0%}",
                    ratio=ratio,
                )
            )
        for name in audit.warnings:
            shown = ctx.text(f"scorer_audit.name_{name}") if name in _NAMED else name
            lines.append(ctx.text("scorer_audit.warning", name=shown))
    return "\n".join(lines)


_NAMED = {"voice", "video", "text", "zh", "en"}


def audit_command(ctx: Ctx, event: CommandReceived) -> None:
    job = job_from_args(ctx, usage="scorer_audit.usage")
    if job is None:
        return
    audits = audit_job(ctx.session, job, None)
    ctx.audit("scorer_audit_read", f"job:{job.id}")
    ctx.say(audit_text(ctx, audits, job.code, job.pass_line))


FEATURE = Feature(
    "scorer_audit",
    commands={"audit": Command(Access("view", "job", job_arg(0, bound=True)), audit_command)},
)
