"""``main.py audit JOB [--groups FILE.csv] [--json]``: the scorer audited on a job's data."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from core.errors import ConfigError
from core.settings import load_settings
from scoring.audit import DimensionAudit, Scored, audit_dimension, format_audit, read_groups_csv
from storage.models import Answer, CandidateScore, Evaluation, InterviewSession, Job


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


def find_job(session: Session, key: str) -> Job:
    """The job by code, or by id when the key is a number.

    Raises:
        ConfigError: no such job.
    """
    job = session.exec(select(Job).where(Job.code == key)).first()
    if job is None and key.isdigit():
        job = session.get(Job, int(key))
    if job is None:
        raise ConfigError(f"no job {key!r}")
    return job


def answer_rows(session: Session, job_id: int) -> list[Scored]:
    """Scored, non-practice answers of the job with their mode and language."""
    query = (
        select(Answer.kind, InterviewSession.language, Evaluation.score)
        .join(InterviewSession, col(InterviewSession.id) == col(Answer.session_id))
        .join(Evaluation, col(Evaluation.answer_id) == col(Answer.id))
        .where(
            InterviewSession.job_id == job_id,
            col(Answer.practice).is_(False),
            Evaluation.dimension == "total",
            col(Evaluation.score) >= 0,
            Answer.status != "superseded",
        )
    )
    return [
        Scored(total=float(score), groups={"mode": kind, "lang": lang})
        for kind, lang, score in session.exec(query).all()
    ]


def candidate_rows(session: Session, job_id: int, groups: dict[str, str]) -> list[Scored]:
    """Candidates' totals with the group HR gave them (candidates not in the CSV are left out)."""
    scores = session.exec(
        select(CandidateScore).where(
            CandidateScore.job_id == job_id, col(CandidateScore.total).is_not(None)
        )
    ).all()
    return [
        Scored(total=float(s.total or 0.0), groups={"group": groups[str(s.candidate_id)]})
        for s in scores
        if str(s.candidate_id) in groups
    ]


def audit_job(session: Session, job: Job, groups: dict[str, str] | None) -> list[DimensionAudit]:
    """Mode and language audits of the job's answers, plus candidate groups if given."""
    rows = answer_rows(session, job.id or 0)
    audits = [
        audit_dimension(rows, "mode", job.pass_line),
        audit_dimension(rows, "lang", job.pass_line),
    ]
    if groups is not None:
        audits.append(
            audit_dimension(candidate_rows(session, job.id or 0, groups), "group", job.pass_line)
        )
    return audits


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
