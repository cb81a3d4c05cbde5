"""Builds the application from settings: the one place real services are wired."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.clock import Clock, SystemClock
from core.logging import register_secret
from core.settings import Settings
from dialogs import (  # noqa: F401  (each registers its HR commands and buttons)
    contract_flow,
    followup,
    hr,
    human_scores,
    stats,
)
from dialogs.channel import Messenger
from dialogs.context import Services
from dialogs.dispatcher import Dispatcher
from dialogs.engine import Engine
from dialogs.invite_channels import (
    SCENE_QR_JOB,
    CandidateChannels,
    scene_qr_job,
    stored_telegram_username,
)
from dialogs.pipeline import Pipeline
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
) -> App:
    """Open storage (running migrations), seed the bank, wire the engine and the jobs."""
    for secret in settings.secrets():
        register_secret(secret)
    database = db or open_database(settings)
    if migrate_db:
        migrate.upgrade(database.engine)
    with database.transaction() as session:
        added = seed_builtin(session)
    if added:
        log.info("question bank: %d built-in questions added", added)
    clock = clock or SystemClock()
    channels = candidate_channels(settings, database, clock)
    services = Services(settings=settings, clock=clock, media=database.media, channels=channels)
    app = App(settings=settings, db=database, services=services, engine=Engine(database, services))
    app.handlers.update((pipeline or default_pipeline(settings)).handlers())
    app.handlers.update(human_scores.JOB_HANDLERS)
    if channels.wechat_qr is not None:
        app.handlers[SCENE_QR_JOB] = scene_qr_job
    return app


def candidate_channels(settings: Settings, db: Database, clock: Clock) -> CandidateChannels:
    """What invitations need to know of the enabled channels, before any event is handled.

    The Telegram username is the one ``getMe`` answered when the bot last started (or
    ``app.bot_username``); ``start_telegram`` asks again and corrects it. The WeChat
    scene QR codes are made here, in every process, so the console chat and the
    background jobs (PDF sheet, e-mail) have them as well as the running bot.
    """
    channels = CandidateChannels()
    if settings.telegram.enabled:
        channels.telegram_username = stored_telegram_username(db) or settings.app.bot_username
    if settings.wechat.enabled:
        from bot.wechat import scene_qr_maker  # the adapter imports this module

        channels.wechat_qr = scene_qr_maker(settings, db, clock)
    return channels
