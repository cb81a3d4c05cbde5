"""``main.py audit JOB [--groups FILE.csv] [--json]``: the scorer audited on a job's data."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.settings import load_settings
from scoring.audit import format_audit, read_groups_csv
from scoring.audit_data import audit_job, find_job


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit``."""
    audit = sub.add_parser(
        "audit", help="score distributions of a job by answer mode and language (four-fifths check)"
    )
    audit.add_argument("job", help="job code or id")
    audit.add_argument(
        "--groups",
        type=Path,
        default=None,
        help="CSV of candidate_id,group uploaded by HR: impact ratios per group",
    )
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=_audit)


def _audit(args: argparse.Namespace) -> int:
    from storage.cli import open_migrated_database

    groups: dict[str, str] | None = None
    if args.groups is not None:
        try:
            groups = read_groups_csv(args.groups.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"--groups: {args.groups}: {exc}") from exc
    settings = load_settings(args.config)
    db = open_migrated_database(settings)
    try:
        with db.session() as session:
            job = find_job(session, args.job)
            audits = audit_job(session, job, groups)
            pass_line = job.pass_line
    finally:
        db.engine.dispose()
    if args.json:
        payload: dict[str, Any] = {"pass_line": pass_line, "audits": [asdict(a) for a in audits]}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(format_audit(audits, pass_line))
    return 0
