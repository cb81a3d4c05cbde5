"""A child process for the crash test: handles events and SIGKILLs itself at a chosen point.

Usage: python -m tests.dialogs.crash_child SETTINGS_JSON EVENTS_JSON LOG KILL_POINT KILL_AT
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from app.wiring import build_app
from core.settings import Settings
from dialogs.kernel import router
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import parse_event
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.registry import Registry


class FileMessenger:
    """Appends every delivered message to a log file (fsynced), like a chat app would show it."""

    platform = "console"

    def __init__(self, log: Path) -> None:
        self.log = log

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        if isinstance(intent, Send):
            with self.log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"chat": intent.chat_id, "text": intent.text}) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        return "1"


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    settings = Settings.model_validate_json(Path(sys.argv[1]).read_text())
    events = [parse_event(json.dumps(e)) for e in json.loads(Path(sys.argv[2]).read_text())]
    log, point, kill_at = Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    app = build_app(settings)
    app.channels["console"] = FileMessenger(log)
    original = router.route
    for index, event in enumerate(events):
        if index == kill_at and point == "mid_transaction":

            def route_then_die(ctx: Ctx, registry: Registry) -> None:
                original(ctx, registry)
                die()

            router.route = route_then_die
        if not app.engine.receive(event):
            continue
        if index == kill_at and point == "after_receive":
            die()
        app.engine.process(event.event_id)
        if index == kill_at and point == "before_delivery":
            die()
        asyncio.run(app.dispatcher().drain())


if __name__ == "__main__":
    main()
