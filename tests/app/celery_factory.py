"""The App of the Celery worker processes the tests start (``--app-factory``): fake
models, and an evaluator that holds still while the file named by
``CELERY_TEST_HOLD`` exists, so a test can kill the worker mid-task."""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.wiring import App, build_app
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import Evaluator, FakeBackend, StarEvaluator
from scoring.star import AnswerInput, Evaluation
from tests.fakes.speech import ScriptedTranscriber

HOLD_ENV = "CELERY_TEST_HOLD"


class HoldingEvaluator:
    def __init__(self, inner: Evaluator) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def evaluate(self, item: AnswerInput) -> Evaluation:
        hold = os.environ.get(HOLD_ENV)
        if hold and Path(hold).exists():
            Path(hold + ".started").write_text(str(os.getpid()))
            deadline = time.monotonic() + 120
            while Path(hold).exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        return self.inner.evaluate(item)


def build(settings: Settings) -> App:
    transcriber = ScriptedTranscriber()
    evaluator = HoldingEvaluator(StarEvaluator(FakeBackend()))
    return build_app(
        settings, pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator)
    )
