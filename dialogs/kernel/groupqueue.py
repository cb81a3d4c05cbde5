"""Where HR-group posts wait for their group's budget (see dialogs/kernel/groupposts.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from core.settings import GroupPostSettings
from dialogs.kernel.intents import Intent, Send
from storage.db import table_of
from storage.models import GroupBinding, GroupPost

MODES = ("auto", "all", "digest", "results", "off")
_INSERT_POST = insert(table_of(GroupPost))


def split_group_posts(
    session: Session, intents: Sequence[Intent], *, now: dt.datetime
) -> list[Intent]:
    """Store the tagged HR-group posts (by the group's mode); return the other intents."""
    tagged = [i for i in intents if isinstance(i, Send) and i.post is not None]
    if not tagged:
        return list(intents)
    jobs = {i.post.job_id for i in tagged if i.post is not None}
    modes = {
        (b.platform, b.chat_id, b.job_id): b.notify
        for b in session.exec(select(GroupBinding).where(col(GroupBinding.job_id).in_(jobs)))
    }
    rows = []
    for intent in tagged:
        tag = intent.post
        assert tag is not None
        mode = modes.get((intent.platform, intent.chat_id, tag.job_id), "auto")
        if mode == "off" or (mode == "results" and tag.klass == "progress"):
            continue
        status = "digest" if mode == "digest" and tag.klass == "progress" else "pending"
        rows.append(
            {
                "job_id": tag.job_id,
                "platform": intent.platform,
                "chat_id": intent.chat_id,
                "klass": tag.klass,
                "kind": tag.key,
                "candidate_id": tag.candidate_id,
                "score": tag.score,
                "ref": intent.ref,
                "payload": intent.model_copy(update={"post": None}).model_dump_json(),
                "status": status,
                "created_at": now,
                "released_at": None,
                "outbox_id": None,
            }
        )
    if rows:
        session.execute(_INSERT_POST, rows)
    return [i for i in intents if not (isinstance(i, Send) and i.post is not None)]


def progress_last_minute(session: Session, binding: GroupBinding, now: dt.datetime) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(GroupPost)
            .where(
                GroupPost.job_id == binding.job_id,
                GroupPost.platform == binding.platform,
                GroupPost.chat_id == binding.chat_id,
                GroupPost.klass == "progress",
                col(GroupPost.created_at) > now - dt.timedelta(minutes=1),
            )
        ).one()
    )


def effective_mode(
    session: Session, binding: GroupBinding, settings: GroupPostSettings, now: dt.datetime
) -> str:
    """``auto`` resolved: digest while the job's progress outgrows half the budget."""
    if binding.notify != "auto":
        return binding.notify
    if progress_last_minute(session, binding, now) > settings.limit(binding.platform) // 2:
        return "digest"
    return "all"
