"""``bench`` and background-job sub-commands."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from core.logging import setup_logging
from core.settings import load_settings

# bench name -> module with ``run(settings) -> list[(name, value, unit)]``
# (the ASR bench prints each line as it is measured; the others are printed here)
PRINTS_AS_IT_GOES = {"asr"}
BENCHES = {
    "asr": "scoring.bench_asr",
    "star": "scoring.bench_star",
    "telegram": "bot.bench_telegram",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help="benchmarks; print 'name value unit' lines")
    bench.add_argument("name", choices=["engine", *BENCHES])
    bench.add_argument(
        "--db",
        default="both",
        choices=["sqlite", "postgres", "both"],
        help="engine bench: database(s)",
    )
    bench.add_argument("--candidates", type=int, default=1000)
    bench.add_argument(
        "--think",
        type=float,
        default=10.0,
        help="engine bench: mean seconds between a candidate's events",
    )
    bench.set_defaults(func=_bench)
    jobs = sub.add_parser("jobs", help="background jobs: list failed ones, retry one")
    jobs.add_argument("action", choices=["failed", "retry"])
    jobs.add_argument("job_id", nargs="?", type=int)
    jobs.set_defaults(func=_jobs)


def _bench(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    setup_logging("WARNING")
    if args.name == "engine":
        from dialogs import bench_engine

        pg_url = (
            os.environ.get("BENCH_DATABASE_URL")
            or os.environ.get("TEST_DATABASE_URL")
            or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        bench_engine.run(
            settings,
            databases=databases,
            pg_url=pg_url,
            candidates=args.candidates,
            think_s=args.think,
        )
        return 0
    module = import_module(BENCHES[args.name])
    lines = module.run(settings)
    if args.name not in PRINTS_AS_IT_GOES:
        for name, value, unit in lines:
            print(f"{name} {value} {unit}", flush=True)
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from core.clock import SystemClock
    from storage import queue
    from storage.cli import open_migrated_database
    from storage.models import BackgroundJob

    settings = load_settings(args.config)
    db = open_migrated_database(settings)
    if args.action == "failed":
        with db.session() as session:
            for job in session.exec(
                select(BackgroundJob).where(BackgroundJob.status == "failed")
            ).all():
                print(f"{job.id} {job.kind} attempts={job.attempts} error={job.error}")
        return 0
    if args.job_id is None:
        print("usage: main.py jobs retry JOB_ID", file=sys.stderr)
        return 2
    ok = queue.retry(db, args.job_id, clock=SystemClock())
    if not ok:
        print(f"no failed job with id {args.job_id}", file=sys.stderr)
        return 1
    print("queued again")
    return 0
