"""``python main.py worker``: a Celery worker process for ``[workers] backend = "celery"``."""

from __future__ import annotations

import argparse

from core.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser(
        "worker",
        help='run background jobs from the broker ([workers] backend = "celery")',
        description=(
            "Consume the given queues (asr, llm, render, code, default) and run their "
            "jobs; GPU machines take --queues asr,llm. SIGTERM finishes the running jobs."
        ),
    )
    worker.add_argument(
        "--queues", default="asr,llm,render,code,default", help="comma-separated queue names"
    )
    worker.add_argument("--concurrency", type=int, default=None, help="worker processes")
    worker.add_argument(
        "--app-factory",
        default="app.wiring:build_app",
        help="module:function building the app (the scale bench passes simulated models)",
    )
    worker.set_defaults(func=_worker)


def _worker(args: argparse.Namespace) -> int:
    from app.celery_jobs import load_factory, run_worker
    from core.errors import ConfigError
    from core.logging import register_secret

    settings = load_settings(args.config)
    for secret in settings.secrets():
        register_secret(secret)
    if settings.workers.backend != "celery":
        raise ConfigError(
            'python main.py worker needs [workers] backend = "celery" in config.toml '
            "(with the default backend, python main.py run runs the jobs itself)"
        )
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    try:
        run_worker(
            settings,
            queues,
            concurrency=args.concurrency or settings.workers.count,
            factory=load_factory(args.app_factory),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return 0
