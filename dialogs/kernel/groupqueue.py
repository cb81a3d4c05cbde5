"""Where HR-group posts wait for their group's budget (see dialogs/kernel/groupposts.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from core.settings import GroupPostSettings
from dialogs.kernel.intents import Edit, Intent, Send
from storage.db import table_of
from storage.models import GroupBinding, GroupPost

MODES = ("auto", "all", "digest", "results", "off")
_INSERT_POST = insert(table_of(GroupPost))


def split_group_posts(
    session: Session, intents: Sequence[Intent], *, now: dt.datetime
) -> list[Intent]:
    """Store the tagged HR-group posts (by the group's mode); return the other intents
    (less the edits applied to posts still waiting)."""
    tagged = [i for i in intents if isinstance(i, Send) and i.post is not None]
    if tagged:
        _store(session, tagged, now)
    return [
        i
        for i in intents
        if not (isinstance(i, Send) and i.post is not None)
        and not (isinstance(i, Edit) and _edit_waiting(session, i))
    ]


def _store(session: Session, tagged: list[Send], now: dt.datetime) -> None:
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


def _edit_waiting(session: Session, edit: Edit) -> bool:
    """An edit of a post still waiting for its group's budget is applied to the waiting
    post (it will be sent as edited); True when it was."""
    post = session.exec(
        select(GroupPost)
        .where(
            GroupPost.ref == edit.ref,
            GroupPost.platform == edit.platform,
            GroupPost.chat_id == edit.chat_id,
            GroupPost.status == "pending",
        )
        .order_by(col(GroupPost.id).desc())
    ).first()
    if post is None:
        return False
    post.payload = Send(
        platform=edit.platform,
        chat_id=edit.chat_id,
        ref=edit.ref,
        text=edit.text,
        buttons=edit.buttons,
    ).model_dump_json()
    session.add(post)
    return True


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
    """``auto`` resolved: digest while the job's progress of the last minute outgrows the
    group's per-minute limit (posting each would fall further behind every minute)."""
    if binding.notify != "auto":
        return binding.notify
    if progress_last_minute(session, binding, now) > settings.limit(binding.platform):
        return "digest"
    return "all"
