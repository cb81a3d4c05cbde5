"""The built application as adapters see it: settings, storage, the engine, the channels.

Built by :func:`app.wiring.build_app`; kept apart from the wiring so that channel
adapters can name it without importing the composition root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.settings import Settings
from dialogs.kernel.channel import Messenger
from dialogs.kernel.context import Services
from dialogs.kernel.dispatcher import Dispatcher
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

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(
            self.db,
            self.channels,
            clock=self.services.clock,
            settings=self.settings,
            media=self.db.media,
        )

    def worker(self) -> Worker:
        return Worker(self.db, self.services, self.handlers)
