"""Builds the application from settings: the one place real services are wired."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.clock import Clock, SystemClock
from core.logging import register_secret
from core.settings import Settings
from dialogs.channel import Messenger
from dialogs.context import Services
from dialogs.dispatcher import Dispatcher
from dialogs.engine import Engine
from dialogs.question_bank import seed_builtin
from dialogs.worker import JobHandler, Worker
from storage import migrate
from storage.db import Database, open_database

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db: Database
    services: Services
    engine: Engine
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


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate_db: bool = True,
    db: Database | None = None,
) -> App:
    """Open storage (running migrations), seed the bank and wire the engine."""
    for secret in settings.secrets():
        register_secret(secret)
    database = db or open_database(settings)
    if migrate_db:
        migrate.upgrade(database.engine)
    with database.transaction() as session:
        added = seed_builtin(session)
    if added:
        log.info("question bank: %d built-in questions added", added)
    services = Services(settings=settings, clock=clock or SystemClock(), media=database.media)
    return App(settings=settings, db=database, services=services, engine=Engine(database, services))
