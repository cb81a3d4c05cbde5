"""People's scores given in the console, through the chat's own rules.

A score is the chat's ``hs:<candidate>:<competency index>:<1-5>`` button: its declared
access (``kernel/access.check``: the role for *that candidate's job*) and
:func:`dialogs.hiring.human_scores.save_score` (one row per scorer and competency, the
audit, the report re-rendered), run in one transaction like the engine runs an event.
In the console a rater sees other people's scores for a competency only after giving
their own (``pages``); the AI's score stays visible, marked advisory.
"""

from __future__ import annotations

import uuid

from app.host import App
from dialogs.console.links import ConsoleSession
from dialogs.hiring.human_scores import MAX_COMMENT, save_score, small_int
from dialogs.kernel.access import check
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import ButtonPressed
from dialogs.kernel.outbox import write_intents
from storage import queue
from storage.models import Job


def score(
    app: App,
    cs: ConsoleSession,
    chat_id: str,
    candidate_id: int,
    index: str,
    value: str,
    comment: str,
) -> str | None:
    """Save the score; the competency's key, or None when the input or access was refused."""
    data = f"hs:{candidate_id}:{index[:3]}:{value[:2]}"
    entry = app.registry.button(data)
    if entry is None:
        return None
    event = ButtonPressed(
        event_id=f"console-web:{uuid.uuid4().hex}",
        platform=cs.platform,
        chat_id=chat_id,
        user_id=cs.user_id,
        data=data,
    )
    with app.db.transaction() as session:
        ctx = Ctx(session=session, event=event, services=app.services, lang=cs.lang)
        if not check(ctx, entry.access, data, button=True):
            return None
        candidate = ctx.target.candidate
        job = session.get(Job, candidate.job_id) if candidate is not None else None
        if candidate is None or job is None or candidate.status == "deleted":
            return None
        number = small_int(index, len(job.competencies), low=0)
        points = small_int(value, 5)
        if number is None or number >= len(job.competencies) or points is None:
            return None
        competency = str(job.competencies[number]["name"])
        save_score(ctx, candidate, competency, points, comment.strip()[:MAX_COMMENT] or None)
        write_intents(session, ctx.intents, source_event=event.event_id, now=ctx.now)
        for job_request in ctx.jobs:
            queue.add(
                session, job_request.kind, job_request.payload, key=job_request.key, now=ctx.now
            )
        return competency
