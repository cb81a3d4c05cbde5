"""What members already received, read from the outbox: sent rows at their send time,
rows still waiting as *now*, failed rows not at all; progress keeps results' share."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from sqlmodel import Session

from app.wiring import build_app
from core.clock import FakeClock
from core.settings import MemberLimits
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.memberbudget import MemberLedger
from storage.models import OutboxMessage
from tests.conftest import make_settings

LIMITS = MemberLimits(per_minute=5, per_hour=8, per_day=20, keep_for_replies=1)


def to(user: str) -> Send:
    return Send(platform="wecom", chat_id=user, text="hello")


def fanout(session: Session, intent: Intent) -> Counter[str]:
    """One app message to the chat's user; the robot chat reaches nobody one by one."""
    return Counter() if intent.chat_id == "robot" else Counter({intent.chat_id: 1})


def test_the_ledger_counts_sent_waiting_and_not_failed_rows(tmp_path: Path) -> None:
    """SQLite only: plain reads, the same on PostgreSQL."""
    clock = FakeClock()
    app = build_app(make_settings(tmp_path), clock=clock)
    now = clock.now()

    def row(user: str, status: str, sent_ago: float | None) -> OutboxMessage:
        sent = now - dt.timedelta(seconds=sent_ago) if sent_ago is not None else None
        return OutboxMessage(
            platform="wecom",
            chat_id=user,
            payload=to(user).model_dump_json(),
            status=status,
            created_at=(sent or now) - dt.timedelta(seconds=1),
            sent_at=sent,
        )

    with app.db.transaction() as session:
        session.add_all(
            [row("alice", "sent", 30) for _ in range(3)]
            + [row("alice", "pending", None), row("alice", "failed", None)]
            + [row("alice", "sent", 600) for _ in range(2)]
            + [row("robot", "sent", 10) for _ in range(4)]
        )
    ledger = MemberLedger()
    with app.db.session() as session:
        room = ledger.room(session, "wecom", LIMITS, fanout, now)
        assert (room.minute["alice"], room.hour["alice"], room.day) == (4, 6, 6)
        assert room.left("alice") == 0 and not room.take(to("alice"))  # 5 less 1 for replies
        assert room.left("bob") == 4 and room.fits(to("bob")) == 4
        assert room.take(to("robot"))  # costs no one anything
        # Progress keeps results' share: a minute's 2 of 5, and 2/5 of the hour (8 -> 4).
        assert room.left("bob", keep=2) == 2
        assert room.take(to("bob"), keep=2) and room.minute["bob"] == 1

    # A minute later the sent rows left the minute (the waiting one still counts as now).
    later = now + dt.timedelta(seconds=61)
    with app.db.session() as session:
        room = ledger.room(session, "wecom", LIMITS, fanout, later)
        assert (room.minute["alice"], room.hour["alice"]) == (1, 6)
        assert room.left("alice") == 2  # the hour binds now: 8 - 6
    app.db.engine.dispose()
