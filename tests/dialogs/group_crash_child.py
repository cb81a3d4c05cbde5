"""A child process for the group-scheduler crash test: releases and delivers HR-group
posts, and SIGKILLs itself at a chosen point.

Usage: python -m tests.dialogs.group_crash_child SETTINGS_JSON LOG KILL_POINT KILL_AT
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from app.wiring import build_app
from core.settings import Settings
from dialogs.kernel import groupposts
from dialogs.kernel.intents import Intent
from tests.dialogs.crash_child import FileMessenger, die


class DyingMessenger(FileMessenger):
    """Dies just before delivering its ``kill_at``-th message."""

    def __init__(self, log: Path, kill_at: int) -> None:
        super().__init__(log)
        self.left = kill_at

    async def deliver(self, intent: Intent, **kwargs: Any) -> str | None:
        if self.left == 0:
            die()
        self.left -= 1
        return await super().deliver(intent, **kwargs)


def main() -> None:
    settings = Settings.model_validate_json(Path(sys.argv[1]).read_text())
    log, point, kill_at = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    app = build_app(settings)
    app.channels["console"] = (
        DyingMessenger(log, kill_at) if point == "mid_delivery" else FileMessenger(log)
    )
    dispatcher = app.dispatcher()
    if point == "mid_release":  # the outbox rows are written, the transaction not committed
        original = groupposts.__dict__["write_intents"]

        def write_then_die(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)
            die()

        setattr(groupposts, "write_intents", write_then_die)  # noqa: B010
    dispatcher.tick_groups()
    if point == "after_release":
        die()
    asyncio.run(dispatcher.drain())


if __name__ == "__main__":
    main()
