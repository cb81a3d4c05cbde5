"""Background-job sub-commands."""

from __future__ import annotations

import argparse
import sys

from core.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = sub.add_parser("jobs", help="background jobs: list failed ones, retry one")
    jobs.add_argument("action", choices=["failed", "retry"])
    jobs.add_argument("job_id", nargs="?", type=int)
    jobs.set_defaults(func=_jobs)


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
