"""Messages to the HR groups bound to a job, and competency labels."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from sqlalchemy import bindparam
from sqlmodel import Session, select

from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.intents import Button, GroupTag, Send
from storage.models import GroupBinding

BANK_FILE = Path(__file__).parent / "bank" / "questions.yaml"


@cache
def _labels() -> dict[str, dict[str, str]]:
    if not BANK_FILE.exists():
        return {}
    data = yaml.safe_load(BANK_FILE.read_text(encoding="utf-8")) or {}
    return {str(k): dict(v) for k, v in (data.get("competencies") or {}).items()}


def competency_label(key: str, lang: str) -> str:
    label = _labels().get(key)
    if label is None:
        return key.replace("_", " ")
    return label.get(lang) or label.get("en") or key


# Built once: asked on most candidate events (building a statement per call costs more).
_GROUPS_OF_JOB = select(GroupBinding).where(GroupBinding.job_id == bindparam("job_id"))


def hr_groups(ctx: Ctx, job_id: int) -> list[GroupBinding]:
    return list(ctx.session.exec(_GROUPS_OF_JOB, params={"job_id": job_id}).all())


class HRChat(NamedTuple):
    platform: str
    chat_id: str
    lang: str


def hr_group_chats(session: Session, job_id: int) -> list[HRChat]:
    """Every HR group bound to the job, with its language."""
    rows = session.exec(select(GroupBinding).where(GroupBinding.job_id == job_id)).all()
    return [HRChat(g.platform, g.chat_id, g.language) for g in rows]


# Posts about a candidate's progress: the group scheduler sends them last, folds them into
# digests when they would arrive late (dialogs/kernel/groupposts.py). Every other HR post
# (results, decisions, review requests, cancellations) goes first.
PROGRESS_KEYS = frozenset(
    {
        "hr.started",
        "hr.answered",
        "hr.completed",
        "hr.declined",
        "hr.locked",
        "pipeline.hr_scored",
        "pipeline.hr_unclear",
        "pipeline.hr_failed",
        "pipeline.hr_needs_review",
    }
)


def group_tag(
    job_id: int, key: str, *, candidate_id: Any = None, score: float | None = None
) -> GroupTag:
    """What the group scheduler needs to know about an HR post of ``key``."""
    return GroupTag(
        job_id=job_id,
        klass="progress" if key in PROGRESS_KEYS else "result",
        key=key,
        candidate_id=candidate_id if isinstance(candidate_id, int) else None,
        score=score,
    )


def hr(
    ctx: Ctx,
    job_id: int,
    key: str,
    /,
    *,
    buttons: list[list[Button]] | None = None,
    ref: str | None = None,
    **kwargs: Any,
) -> None:
    """Post a catalogue message to every HR group of the job (in the group's language),
    with the buttons features add to posts of ``key`` (e.g. "Ask a follow-up")."""
    tag = group_tag(job_id, key, candidate_id=kwargs.get("id"))
    for group in hr_groups(ctx, job_id):
        rows = list(buttons or []) + ctx.services.features.post_buttons(key, group.language, kwargs)
        ctx.intents.append(
            Send(
                platform=group.platform,
                chat_id=group.chat_id,
                text=t(group.language, key, **kwargs),
                buttons=rows,
                ref=ref,
                post=tag,
            )
        )
