"""``celery -A app.celery_main worker -Q asr,llm``: the plain Celery form of
``python main.py worker``. Settings come from ``config.toml`` (or the file named by
``INTERVIEWER_CONFIG``) and the environment, as for ``main.py``; queue names carry
``[workers] queue_prefix`` when one is set."""

from __future__ import annotations

import os

from app.celery_jobs import connect_warm_up, load_factory, make_celery
from core.logging import register_secret
from core.settings import load_settings

settings = load_settings(os.environ.get("INTERVIEWER_CONFIG"))
for _secret in settings.secrets():
    register_secret(_secret)
app = make_celery(
    settings,
    factory=load_factory(os.environ.get("INTERVIEWER_APP_FACTORY", "app.wiring:build_app")),
)
connect_warm_up()
