"""Builds the application from settings: the one place real services are wired."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.features import FEATURES
from core.clock import Clock, SystemClock
from core.logging import register_secret
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from dialogs.jobs.question_bank import seed_builtin
from dialogs.kernel.channel import Messenger
from dialogs.kernel.context import Services
from dialogs.kernel.dispatcher import Dispatcher
from dialogs.kernel.engine import Engine
from dialogs.kernel.feature import Feature
from dialogs.kernel.registry import Registry
from dialogs.kernel.worker import JobHandler, Worker
from storage import migrate
from storage.db import Database, open_database

log = logging.getLogger(__name__)


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


def default_pipeline(settings: Settings) -> Pipeline:
    """Whisper and the configured evaluator, each loaded on first use in this process."""
    from scoring.evaluator import Evaluator, build_evaluator
    from scoring.transcribe import Transcriber, get_transcriber

    evaluator: list[Evaluator] = []

    def transcriber() -> Transcriber:
        return get_transcriber(settings)

    def make_evaluator() -> Evaluator:
        if not evaluator:
            evaluator.append(build_evaluator(settings))
        return evaluator[0]

    return Pipeline(transcriber=transcriber, evaluator=make_evaluator)


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate_db: bool = True,
    db: Database | None = None,
    pipeline: Pipeline | None = None,
    features: Sequence[Feature] = FEATURES,
) -> App:
    """Open storage (running migrations), seed the bank, wire the engine and the jobs.

    ``features`` is the product's list (``app/features.py``); tests pass another.
    """
    registry = Registry(features)  # refuses duplicates before anything is opened
    for secret in settings.secrets():
        register_secret(secret)
    database = db or open_database(settings)
    if migrate_db:
        migrate.upgrade(database.engine)
    with database.transaction() as session:
        added = seed_builtin(session)
    if added:
        log.info("question bank: %d built-in questions added", added)
    services = Services(
        settings=settings, clock=clock or SystemClock(), media=database.media, features=registry
    )
    app = App(
        settings=settings,
        db=database,
        services=services,
        engine=Engine(database, services, registry),
        registry=registry,
    )
    models = (pipeline or default_pipeline(settings)).handlers()
    app.handlers.update(registry.job_handlers(("pipeline", models)))
    return app
