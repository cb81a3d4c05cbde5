"""The built application as adapters see it: settings, storage, the engine, the channels.

Built by :func:`app.wiring.build_app`; kept apart from the wiring so that channel
adapters can name it without importing the composition root.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from core.settings import Settings
from dialogs.kernel.channel import Messenger
from dialogs.kernel.context import Services
from dialogs.kernel.dispatcher import Dispatcher, new_process_token
from dialogs.kernel.engine import Engine
from dialogs.kernel.registry import Registry
from dialogs.kernel.worker import JobHandler, Worker
from storage.db import Database


@dataclass
class App:
    settings: Settings
    db: Database
    services: Services
    engine: Engine
    registry: Registry
    handlers: dict[str, JobHandler] = field(default_factory=dict)
    channels: dict[str, Messenger] = field(default_factory=dict)
    # Names this process's outbox claims (``claimed_by``); tests give two Apps two tokens.
    process_token: str = field(default_factory=new_process_token)
    # Set when SIGTERM starts the drain: readiness (/readyz) answers 503 from then on.
    draining: bool = False

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(
            self.db,
            self.channels,
            clock=self.services.clock,
            settings=self.settings,
            media=self.db.media,
            token=self.process_token,
        )

    def worker(
        self, kinds: Collection[str] | None = None, *, exclude: Collection[str] = ()
    ) -> Worker:
        """A worker for ``kinds`` (all by default) but ``exclude``: a queue of its own
        (the ``code`` jobs run apart, so a slow model job never holds a sandbox run)."""
        mine = {
            kind: handler
            for kind, handler in self.handlers.items()
            if (kinds is None or kind in kinds) and kind not in exclude
        }
        others = set(self.handlers) - set(mine)
        return Worker(self.db, self.services, mine, others=others)
