"""What a timed rule returns, and the shapes of the rules and planners features declare
(the machinery that fires them is :mod:`dialogs.kernel.timers`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from core.settings import Settings
from dialogs.kernel.intents import Intent
from storage.schedule_models import Reminder


@dataclass
class Outcome:
    status: str  # sent | stale | skipped | rearm
    note: str = ""
    intents: list[Intent] = field(default_factory=list)
    due_at: dt.datetime | None = None  # for rearm


# A reminder kind's rule: is it still relevant, and what does it send (in the claim's
# transaction)? Arguments: the session, the claimed row, its payload, now, the settings.
ReminderRule = Callable[[Session, Reminder, dict[str, Any], dt.datetime, Settings], Outcome]
# Plans reminders nobody planned at creation (session, settings, now, limit) -> how many.
Planner = Callable[[Session, Settings, dt.datetime, int], int]
