"""What the console pages read: aggregated in SQL, one page of rows at a time.

Nothing here loads every candidate of a job into Python: the funnel is ``COUNT``s grouped
in the database, the candidates table is one ``LIMIT``/``OFFSET`` page over the indexed
``candidate.job_id`` (with a ``COUNT`` for the pager) and the answer modes of that page
only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, distinct, exists, func, literal, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from storage.contract_models import Contract
from storage.db import table_of
from storage.models import (
    Answer,
    Candidate,
    CandidateScore,
    Decision,
    FunnelEvent,
    InterviewSession,
    Job,
)

_A = table_of(Answer).c
_C = table_of(Candidate).c
_S = table_of(CandidateScore).c
_D = table_of(Decision).c
_F = table_of(FunnelEvent).c
_I = table_of(InterviewSession).c
_K = table_of(Contract).c

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SORTS = ("id", "total", "status", "language", "decision")
STATUSES = (
    "invited",
    "started",
    "completed",
    "rejected",
    "approved",
    "next_round",
    "withdrawn",
)
MODES = ("voice", "video", "text")
DECISIONS = ("pending", "approve", "next_round", "reject")
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class JobRow:
    job: Job
    invited: int
    started: int
    completed: int
    decided: int
    signed: int
    scored: int
    passed: int
    average: float | None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None


def job_rows(session: Session, job_ids: set[int] | None) -> list[JobRow]:
    """The funnel of each job in ``job_ids`` (None: every job), a few grouped queries."""
    query = sm_select(Job).order_by(col(Job.code))
    if job_ids is not None:
        query = query.where(col(Job.id).in_(sorted(job_ids) or [0]))
    jobs = list(session.exec(query).all())
    ids = [j.id for j in jobs if j.id is not None] or [0]
    live = and_(_C.job_id.in_(ids), _C.status != "deleted")

    def grouped(stmt: Any) -> dict[int, Any]:
        return {int(row[0]): row[1:] for row in session.execute(stmt).all()}

    invited = grouped(select(_C.job_id, func.count()).where(live).group_by(_C.job_id))
    stages = grouped(
        select(
            _F.job_id,
            func.count(distinct(case((_F.stage == "started", _F.candidate_id)))),
            func.count(distinct(case((_F.stage == "completed", _F.candidate_id)))),
        )
        .join(Candidate, _C.id == _F.candidate_id)
        .where(live)
        .group_by(_F.job_id)
    )
    decided = grouped(
        select(_C.job_id, func.count())
        .join(Decision, _D.candidate_id == _C.id)
        .where(live, _D.status == "decided")
        .group_by(_C.job_id)
    )
    signed = grouped(
        select(_C.job_id, func.count(distinct(_K.candidate_id)))
        .join(Contract, _K.candidate_id == _C.id)
        .where(live, _K.status == "signed")
        .group_by(_C.job_id)
    )
    scores = grouped(
        select(
            _C.job_id,
            func.count(_S.total),
            func.sum(case((_S.passed.is_(True), 1), else_=0)),
            func.avg(_S.total),
        )
        .join(CandidateScore, _S.candidate_id == _C.id)
        .where(live)
        .group_by(_C.job_id)
    )
    out = []
    for job in jobs:
        jid = job.id or 0
        st = stages.get(jid, (0, 0))
        sc = scores.get(jid, (0, 0, None))
        out.append(
            JobRow(
                job=job,
                invited=int(invited.get(jid, (0,))[0]),
                started=int(st[0]),
                completed=int(st[1]),
                decided=int(decided.get(jid, (0,))[0]),
                signed=int(signed.get(jid, (0,))[0]),
                scored=int(sc[0] or 0),
                passed=int(sc[1] or 0),
                average=float(sc[2]) if sc[2] is not None else None,
            )
        )
    return out


@dataclass(frozen=True)
class TableQuery:
    """The candidates table's state, as read from the query string (validated)."""

    sort: str = "total"
    descending: bool = True
    status: str = ""
    language: str = ""
    mode: str = ""
    decision: str = ""
    min_total: float | None = None
    page: int = 1
    size: int = PAGE_SIZE

    @classmethod
    def parse(cls, params: Any) -> TableQuery:
        def pick(name: str, allowed: tuple[str, ...]) -> str:
            value = str(params.get(name, ""))
            return value if value in allowed else ""

        def number(name: str, low: int, high: int, default: int) -> int:
            raw = str(params.get(name, ""))
            return (
                min(max(int(raw), low), high)
                if raw.isascii() and raw.isdigit() and len(raw) < 7
                else default
            )

        raw_total = str(params.get("min_total", "")).strip()
        min_total = None
        if raw_total and len(raw_total) < 8:
            try:
                min_total = min(max(float(raw_total), 0.0), 100.0)
            except ValueError:
                min_total = None
        return cls(
            sort=pick("sort", SORTS) or "total",
            descending=str(params.get("dir", "desc")) != "asc",
            status=pick("status", STATUSES),
            language=pick("language", LANGUAGES),
            mode=pick("mode", MODES),
            decision=pick("decision", DECISIONS),
            min_total=min_total if min_total == min_total else None,  # NaN
            page=number("page", 1, 100_000, 1),
            size=number("size", 10, MAX_PAGE_SIZE, PAGE_SIZE),
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this state with ``changes`` (empty values left out)."""
        values: dict[str, Any] = {
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
            "status": self.status,
            "language": self.language,
            "mode": self.mode,
            "decision": self.decision,
            "min_total": "" if self.min_total is None else f"{self.min_total:g}",
            "page": self.page,
        }
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v not in ("", None)}


@dataclass(frozen=True)
class CandidateRow:
    id: int
    name: str
    status: str
    language: str
    total: float | None
    passed: bool | None
    decision: str  # pending | approve | next_round | reject
    decided_by: str
    modes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TablePage:
    rows: list[CandidateRow]
    count: int
    query: TableQuery

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.query.size))


def _language() -> ColumnElement[Any]:
    return func.coalesce(_I.language, _C.language, literal(""))


def _decision() -> ColumnElement[Any]:
    return case(
        (_D.status == "decided", func.coalesce(_D.outcome, "pending")),
        else_="pending",
    )


def candidate_table(session: Session, job_id: int, q: TableQuery) -> TablePage:
    """One page of a job's candidates, sorted and filtered in SQL."""
    language, decision = _language(), _decision()
    where: list[ColumnElement[bool]] = [
        _C.job_id == job_id,
        _C.status != "deleted",
    ]
    if q.status:
        where.append(_C.status == q.status)
    if q.language:
        where.append(language == q.language)
    if q.decision:
        where.append(decision == q.decision)
    if q.min_total is not None:
        where.append(_S.total >= q.min_total)
    if q.mode:
        where.append(
            exists().where(
                _A.session_id == _I.id,
                _A.kind == q.mode,
                _A.practice.is_(False),
            )
        )

    def joined(stmt: Any) -> Any:
        return (
            stmt.select_from(Candidate)
            .outerjoin(CandidateScore, _S.candidate_id == _C.id)
            .outerjoin(Decision, _D.candidate_id == _C.id)
            .outerjoin(InterviewSession, _I.candidate_id == _C.id)
            .where(*where)
        )

    count = int(session.execute(joined(select(func.count()))).scalar_one())
    key: Any = {
        "id": _C.id,
        "total": _S.total,
        "status": _C.status,
        "language": language,
        "decision": decision,
    }[q.sort]
    ordered = col(key).desc() if q.descending else col(key).asc()
    # NULL totals (not scored) last either way; the id breaks ties so pages are stable.
    order = [
        col(key).is_(None),
        ordered,
        _C.id.desc() if q.descending else _C.id,
    ]
    stmt = joined(
        select(
            _C.id,
            _C.name,
            _C.status,
            language,
            _S.total,
            _S.passed,
            decision,
            _D.decided_by,
        )
    )
    page = max(1, min(q.page, -(-count // q.size) or 1))
    rows = session.execute(stmt.order_by(*order).limit(q.size).offset((page - 1) * q.size)).all()
    ids = [int(r[0]) for r in rows]
    modes: dict[int, list[str]] = {}
    if ids:
        for cid, kind in session.execute(
            select(_I.candidate_id, _A.kind)
            .join(Answer, _A.session_id == _I.id)
            .where(_I.candidate_id.in_(ids), _A.practice.is_(False))
            .distinct()
        ).all():
            modes.setdefault(int(cid), []).append(str(kind))
    out = [
        CandidateRow(
            id=int(r[0]),
            name=str(r[1] or ""),
            status=str(r[2]),
            language=str(r[3] or ""),
            total=float(r[4]) if r[4] is not None else None,
            passed=r[5],
            decision=str(r[6]),
            decided_by=str(r[7] or ""),
            modes=sorted(modes.get(int(r[0]), [])),
        )
        for r in rows
    ]
    return TablePage(out, count, TableQuery(**{**q.__dict__, "page": page}))


def all_rows(session: Session, job_id: int, batch: int = 500) -> Any:
    """Every candidate of a job for export, ``batch`` rows per query (keyset on id)."""
    last = 0
    q = TableQuery(sort="id", descending=False, size=batch)
    language, decision = _language(), _decision()
    while True:
        rows = session.execute(
            select(
                _C.id,
                _C.name,
                _C.status,
                language,
                _S.total,
                _S.passed,
                decision,
                _D.decided_by,
            )
            .select_from(Candidate)
            .outerjoin(CandidateScore, _S.candidate_id == _C.id)
            .outerjoin(Decision, _D.candidate_id == _C.id)
            .outerjoin(InterviewSession, _I.candidate_id == _C.id)
            .where(
                _C.job_id == job_id,
                _C.status != "deleted",
                _C.id > last,
            )
            .order_by(_C.id)
            .limit(q.size)
        ).all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1][0])
