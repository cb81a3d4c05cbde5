"""Builds the application from settings: the one place real services are wired."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from app.features import FEATURES
from app.host import App as App
from core.clock import Clock, SystemClock
from core.logging import register_secret
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from dialogs.invitations.channels import SCENE_QR_JOB, scene_qr_job
from dialogs.jobs.question_bank import seed_builtin
from dialogs.kernel.channel import CandidateChannels, stored_telegram_username
from dialogs.kernel.context import Services
from dialogs.kernel.engine import Engine
from dialogs.kernel.feature import Feature
from dialogs.kernel.registry import Registry
from storage import migrate
from storage.db import Database, open_database

log = logging.getLogger(__name__)


def default_pipeline(settings: Settings) -> Pipeline:
    """The speech router (a recogniser per language), the configured evaluator, the code
    sandbox and the model's code review, each loaded on first use in this process."""
    from coding.bwrap import BwrapSandbox
    from coding.sandbox import Sandbox
    from scoring.evaluator import ChatBackend, Evaluator, build_backend, build_evaluator
    from scoring.hypothesis_choice import HypothesisChooser, LLMChooser
    from scoring.speech_router import get_recogniser
    from scoring.transcribe import Transcriber

    evaluator: list[Evaluator] = []
    sandbox: list[Sandbox] = []
    reviewer: list[ChatBackend] = []

    def transcriber() -> Transcriber:
        return get_recogniser(settings)

    def make_evaluator() -> Evaluator:
        if not evaluator:
            evaluator.append(build_evaluator(settings))
        return evaluator[0]

    def make_sandbox() -> Sandbox:
        if not sandbox:
            sandbox.append(BwrapSandbox())
        return sandbox[0]

    def make_reviewer() -> ChatBackend:
        if not reviewer:
            reviewer.append(build_backend(settings))
        return reviewer[0]

    def make_chooser() -> HypothesisChooser | None:
        # the [llm] model picks among the N-best hypotheses; off unless [speech] nbest > 0
        return LLMChooser(make_reviewer()) if settings.speech.nbest > 0 else None

    return Pipeline(
        transcriber=transcriber,
        evaluator=make_evaluator,
        sandbox=make_sandbox,
        reviewer=make_reviewer,
        chooser=make_chooser,
    )


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
    clock = clock or SystemClock()
    channels = candidate_channels(settings, database, clock)
    services = Services(
        settings=settings,
        clock=clock,
        media=database.media,
        features=registry,
        channels=channels,
    )
    app = App(
        settings=settings,
        db=database,
        services=services,
        engine=Engine(database, services, registry),
        registry=registry,
    )
    models = (pipeline or default_pipeline(settings)).handlers()
    # The scene QR job needs the Official Account: only where it is set up.
    wechat = {SCENE_QR_JOB: scene_qr_job} if channels.wechat_qr is not None else {}
    app.handlers.update(registry.job_handlers(("pipeline", models), ("wechat", wechat)))
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
