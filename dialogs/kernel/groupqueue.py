"""Where HR-group posts wait for their group's budget (see dialogs/kernel/groupposts.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import bindparam, func, insert
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from core.settings import GroupPostSettings
from dialogs.kernel.intents import Edit, Intent, Send
from storage.db import table_of
from storage.models import GroupBinding, GroupPost

MODES = ("auto", "all", "digest", "results", "off")
_POSTS = table_of(GroupPost)
_BINDINGS = table_of(GroupBinding)
_INSERT_POST = insert(_POSTS)
# Prebuilt: these run inside the transaction of every candidate event that posts to an HR
# group or edits a message (the writer lock held, on SQLite the engine's).
_MODES_OF_JOBS = core_select(
    _BINDINGS.c.platform, _BINDINGS.c.chat_id, _BINDINGS.c.job_id, _BINDINGS.c.notify
).where(_BINDINGS.c.job_id.in_(bindparam("jobs", expanding=True)))
_WAITING_REFS = core_select(_POSTS.c.id, _POSTS.c.ref, _POSTS.c.platform, _POSTS.c.chat_id).where(
    _POSTS.c.ref.in_(bindparam("refs", expanding=True)), _POSTS.c.status == "pending"
)


def split_group_posts(
    session: Session, intents: Sequence[Intent], *, now: dt.datetime
) -> list[Intent]:
    """Store the tagged HR-group posts (by the group's mode); return the other intents
    (less the edits applied to posts still waiting)."""
    tagged = [i for i in intents if isinstance(i, Send) and i.post is not None]
    if tagged:
        _store(session, tagged, now)
    applied = _edits_waiting(session, intents)
    return [
        i
        for n, i in enumerate(intents)
        if not (isinstance(i, Send) and i.post is not None) and n not in applied
    ]


def _store(session: Session, tagged: list[Send], now: dt.datetime) -> None:
    jobs = sorted({i.post.job_id for i in tagged if i.post is not None})
    modes = {
        (platform, chat_id, job_id): notify
        for platform, chat_id, job_id, notify in session.execute(_MODES_OF_JOBS, {"jobs": jobs})
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


def _edits_waiting(session: Session, intents: Sequence[Intent]) -> set[int]:
    """Edits of posts still waiting for their group's budget are applied to the waiting
    posts (they will be sent as edited); the positions in ``intents`` of those that were.
    One look for all of them: most are edits of candidates' messages, never waiting."""
    edits = {n: i for n, i in enumerate(intents) if isinstance(i, Edit)}
    if not edits:
        return set()
    newest: dict[tuple[str | None, str, str], int] = {}
    for pid, ref, platform, chat_id in session.execute(
        _WAITING_REFS, {"refs": sorted({e.ref for e in edits.values()})}
    ):
        key = (ref, platform, chat_id)
        newest[key] = max(pid, newest.get(key, pid))
    applied: set[int] = set()
    for n, edit in edits.items():
        pid = newest.get((edit.ref, edit.platform, edit.chat_id))
        if pid is None:
            continue
        post = session.get(GroupPost, pid)
        assert post is not None
        post.payload = Send(
            platform=edit.platform,
            chat_id=edit.chat_id,
            ref=edit.ref,
            text=edit.text,
            buttons=edit.buttons,
        ).model_dump_json()
        session.add(post)
        applied.add(n)
    return applied


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
