"""HR's follow-up question from the console, through the chat's ``/ask`` rules.

The ``/ask <candidate> <question>`` command's declared access (the role for that
candidate's job) and :func:`dialogs.interview.followup.add_followup` (the question
inserted after the current one, the candidate prompted when they were reviewing, the
audit) run in one transaction, like the engine runs the command. What the command would
have replied to HR's chat comes back here and is shown on the page instead; everything
else (the candidate's next question) goes to the outbox as usual.
"""

from __future__ import annotations

import uuid

from app.host import App
from dialogs.console.links import ConsoleSession
from dialogs.interview.followup import add_followup
from dialogs.kernel.access import check
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived
from dialogs.kernel.intents import Send
from dialogs.kernel.outbox import write_intents
from storage import queue

MAX_FORM_CHARS = 2000


def ask(app: App, cs: ConsoleSession, chat_id: str, candidate_id: int, text: str) -> str:
    """Add the question; returns what HR is told (added, or why not)."""
    entry = app.registry.command("ask")
    assert entry is not None
    question = " ".join(text.split())[:MAX_FORM_CHARS]
    event = CommandReceived(
        event_id=f"console-web:{uuid.uuid4().hex}",
        platform=cs.platform,
        chat_id=chat_id,
        user_id=cs.user_id,
        command="ask",
        args=f"{candidate_id} {question}",
    )
    with app.db.transaction() as session:
        ctx = Ctx(session=session, event=event, services=app.services, lang=cs.lang)
        if check(ctx, entry.access, event.args):
            add_followup(ctx, candidate_id, question)
        to_hr = [
            i
            for i in ctx.intents
            if isinstance(i, Send) and i.platform == cs.platform and i.chat_id == chat_id
        ]
        rest = [i for i in ctx.intents if i not in to_hr]
        write_intents(session, rest, source_event=event.event_id, now=ctx.now)
        for job in ctx.jobs:
            queue.add(session, job.kind, job.payload, key=job.key, now=ctx.now)
        return "\n".join(i.text for i in to_hr)
