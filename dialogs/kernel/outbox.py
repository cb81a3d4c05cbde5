"""Writing intents to the outbox (same transaction as the state change)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import insert
from sqlmodel import Session

from dialogs.kernel.groupqueue import split_group_posts
from dialogs.kernel.intents import Intent
from storage.db import table_of
from storage.models import OutboxMessage

# A Core INSERT on the table: no ORM bulk-insert machinery per call.
_INSERT_OUTBOX = insert(table_of(OutboxMessage))


def write_intents(
    session: Session, intents: Sequence[Intent], *, source_event: str | None, now: dt.datetime
) -> None:
    """One INSERT (executemany) for all intents of a unit of work. HR-group posts
    (``Send.post``) wait for their group's budget instead (dialogs/kernel/groupposts.py)."""
    if not intents:
        return
    intents = split_group_posts(session, intents, now=now)
    if not intents:
        return
    rows = [
        {
            "source_event": source_event,
            "platform": intent.platform,
            "chat_id": intent.chat_id,
            "payload": intent.model_dump_json(),
            "ref": intent.ref if intent.kind in ("send", "file") else None,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "platform_message_id": None,
            "created_at": now,
            "sent_at": None,
        }
        for intent in intents
    ]
    session.execute(_INSERT_OUTBOX, rows)
