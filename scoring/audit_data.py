"""A job's scored answers and candidates as rows for ``scoring.audit`` (database reads)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.errors import ConfigError
from scoring.audit import DimensionAudit, Scored, audit_dimension
from storage.models import Answer, CandidateScore, Evaluation, InterviewSession, Job


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
    """Scored, non-practice answers of the job with their mode and language.

    An answer scored again has several totals: the latest one counts.
    """
    query = (
        select(Answer.id, Answer.kind, InterviewSession.language, Evaluation.score)
        .join(InterviewSession, col(InterviewSession.id) == col(Answer.session_id))
        .join(Evaluation, col(Evaluation.answer_id) == col(Answer.id))
        .where(
            InterviewSession.job_id == job_id,
            col(Answer.practice).is_(False),
            Evaluation.dimension == "total",
            Answer.status != "superseded",
        )
        .order_by(col(Evaluation.id))
    )
    latest: dict[int, tuple[str, str, float]] = {}
    for answer_id, kind, lang, score in session.exec(query).all():
        latest[answer_id or 0] = (kind, lang, float(score))
    return [
        Scored(total=score, groups={"mode": kind, "lang": lang})
        for kind, lang, score in latest.values()
        if score >= 0  # -1: the answer awaits a person's score
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
