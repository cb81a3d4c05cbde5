"""The digest of a job's progress for one HR group: counts and the new top candidates.

On Telegram it is the job's one live status message, edited in place (``Edit`` of ref
``status:<job>``); WeCom group robots and the console can only post, so they get a new
post each time. Built by :class:`~dialogs.kernel.groupposts.GroupScheduler`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from dialogs.kernel.catalog import t
from dialogs.kernel.intents import Edit, Intent, Send
from storage.models import GroupBinding, GroupPost, Job

EDITS_IN_PLACE = frozenset({"telegram"})  # platforms whose group messages a bot can edit
STARTED = frozenset({"hr.started"})
ANSWERED = frozenset({"hr.answered"})
COMPLETED = frozenset({"hr.completed"})
FLAGGED = frozenset(
    {
        "hr.locked",
        "hr.declined",
        "pipeline.hr_unclear",
        "pipeline.hr_failed",
        "pipeline.hr_needs_review",
        "decision.hr_review_requested",
    }
)
TOP = 3


def status_ref(job_id: int) -> str:
    return f"status:{job_id}"


def _counts(kinds: Counter[str]) -> dict[str, int]:
    def total(keys: frozenset[str]) -> int:
        return sum(n for k, n in kinds.items() if k in keys)

    return {
        "started": total(STARTED),
        "answered": total(ANSWERED),
        "completed": total(COMPLETED),
        "flagged": total(FLAGGED),
    }


def digest_text(session: Session, b: GroupBinding, newest: int, now: dt.datetime) -> str:
    """Counts by SQL aggregates (a wave holds tens of thousands of posts: none is loaded)."""
    lang = b.language
    where = (
        GroupPost.job_id == b.job_id,
        GroupPost.platform == b.platform,
        GroupPost.chat_id == b.chat_id,
        col(GroupPost.id) <= newest,
    )

    def kinds(*extra: Any) -> Counter[str]:
        query = select(GroupPost.kind, func.count()).where(*where, *extra)
        return Counter(dict(session.exec(query.group_by(col(GroupPost.kind))).all()))

    new = kinds(col(GroupPost.id) > b.digest_cursor)
    total = kinds()
    top = session.exec(
        select(GroupPost.candidate_id, GroupPost.score)
        .where(
            *where,
            col(GroupPost.id) > b.digest_cursor,
            col(GroupPost.score).is_not(None),
            col(GroupPost.candidate_id).is_not(None),
        )
        .order_by(col(GroupPost.score).desc(), col(GroupPost.id))
        .limit(TOP)
    ).all()
    job = session.get(Job, b.job_id)
    title = (job.title_zh if lang == "zh" else job.title_en) if job else f"#{b.job_id}"
    lines = [
        t(lang, "groups.digest_head", job=title, at=now.strftime("%H:%M")),
        t(lang, "groups.digest_new", **_counts(new)),
        t(lang, "groups.digest_total", **_counts(total)),
    ]
    if top:
        lines.append(t(lang, "groups.digest_top"))
        lines += [t(lang, "groups.digest_top_row", id=cid, score=f"{s or 0:.1f}") for cid, s in top]
    return "\n".join(lines)


def digest_intent(session: Session, b: GroupBinding, newest: int, now: dt.datetime) -> Intent:
    text = digest_text(session, b, newest, now)
    if b.platform not in EDITS_IN_PLACE:
        return Send(platform=b.platform, chat_id=b.chat_id, text=text)
    if b.status_sent:
        return Edit(platform=b.platform, chat_id=b.chat_id, ref=status_ref(b.job_id), text=text)
    return Send(platform=b.platform, chat_id=b.chat_id, text=text, ref=status_ref(b.job_id))
