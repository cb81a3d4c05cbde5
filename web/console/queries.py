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
    HumanScore,
    InterviewSession,
    Job,
)

_A = table_of(Answer).c
_C = table_of(Candidate).c
_S = table_of(CandidateScore).c
_D = table_of(Decision).c
_F = table_of(FunnelEvent).c
_H = table_of(HumanScore).c
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
HUMAN = ("yes", "no")  # has a person's score / has none
RANKING_TOP = 20  # bars in the ranking chart
BINS = 10  # the histogram's bins over 0-100


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
    competency: str = ""  # one of the job's competency names
    min_competency: float | None = None  # 0-100, on ``competency``
    human: str = ""  # "" | yes | no: has a person's score
    min_human: float | None = None  # 1-5, the mean of the people's scores
    page: int = 1
    size: int = PAGE_SIZE

    @classmethod
    def parse(cls, params: Any, competencies: tuple[str, ...] = ()) -> TableQuery:
        """The state from ``params``; ``competencies``: the job's names (the only ones
        the competency filter accepts)."""

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

        def bounded(name: str, low: float, high: float) -> float | None:
            raw = str(params.get(name, "")).strip()
            if not raw or len(raw) >= 8:
                return None
            try:
                value = min(max(float(raw), low), high)
            except ValueError:
                return None
            return value if value == value else None  # NaN

        competency = pick("comp", competencies)
        return cls(
            sort=pick("sort", SORTS) or "total",
            descending=str(params.get("dir", "desc")) != "asc",
            status=pick("status", STATUSES),
            language=pick("language", LANGUAGES),
            mode=pick("mode", MODES),
            decision=pick("decision", DECISIONS),
            min_total=bounded("min_total", 0.0, 100.0),
            competency=competency,
            min_competency=bounded("comp_min", 0.0, 100.0) if competency else None,
            human=pick("human", HUMAN),
            min_human=bounded("min_human", 1.0, 5.0),
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
            "min_total": _g(self.min_total),
            "comp": self.competency,
            "comp_min": _g(self.min_competency),
            "human": self.human,
            "min_human": _g(self.min_human),
            "page": self.page,
        }
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v not in ("", None)}


def _g(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


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


def _where(job_id: int, q: TableQuery) -> list[ColumnElement[bool]]:
    """The table's filters as SQL, over the candidate (indexed on ``job_id``) and its
    one-to-one score, decision and session; people's scores by the indexed
    ``humanscore.candidate_id``."""
    where: list[ColumnElement[bool]] = [
        _C.job_id == job_id,
        _C.status != "deleted",
    ]
    if q.status:
        where.append(_C.status == q.status)
    if q.language:
        where.append(_language() == q.language)
    if q.decision:
        where.append(_decision() == q.decision)
    if q.min_total is not None:
        where.append(_S.total >= q.min_total)
    if q.competency and q.min_competency is not None:
        where.append(_S.per_competency[q.competency].as_float() >= q.min_competency)
    if q.human == "yes":
        where.append(exists().where(_H.candidate_id == _C.id))
    elif q.human == "no":
        where.append(~exists().where(_H.candidate_id == _C.id))
    if q.min_human is not None:  # the mean of no scores is NULL: unscored never match
        mean = select(func.avg(_H.score)).where(_H.candidate_id == _C.id).scalar_subquery()
        where.append(mean >= q.min_human)
    if q.mode:
        where.append(
            exists().where(
                _A.session_id == _I.id,
                _A.kind == q.mode,
                _A.practice.is_(False),
            )
        )
    return where


def _joined(stmt: Any, where: list[ColumnElement[bool]], q: TableQuery | None = None) -> Any:
    """``stmt`` over the job's candidates and what ``where`` needs. With ``q``, only the
    tables its filters read are joined (the counts and charts select no decision or
    language); without, all of them (the table's rows show both)."""
    stmt = stmt.select_from(Candidate).outerjoin(CandidateScore, _S.candidate_id == _C.id)
    if q is None or q.decision:
        stmt = stmt.outerjoin(Decision, _D.candidate_id == _C.id)
    if q is None or q.language or q.mode:
        stmt = stmt.outerjoin(InterviewSession, _I.candidate_id == _C.id)
    return stmt.where(*where)


def candidate_table(session: Session, job_id: int, q: TableQuery) -> TablePage:
    """One page of a job's candidates, sorted and filtered in SQL."""
    language, decision = _language(), _decision()
    where = _where(job_id, q)

    def joined(stmt: Any) -> Any:
        return _joined(stmt, where)

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
    # The count rides on the page's own scan (a window over the matching rows); only a
    # page past the end needs a count of its own, to show the last page instead.
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
            func.count().over(),
        )
    ).order_by(*order)

    def fetch(page: int) -> list[Any]:
        return list(session.execute(stmt.limit(q.size).offset((page - 1) * q.size)).all())

    page = q.page
    rows = fetch(page)
    if rows:
        count = int(rows[0][8])
    else:
        count = int(session.execute(_joined(select(func.count()), where, q)).scalar_one())
        page = max(1, min(q.page, -(-count // q.size) or 1))
        rows = fetch(page) if count and page != q.page else []
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


@dataclass(frozen=True)
class ChartData:
    """What the job page's charts draw, for the candidates matching the filters: the
    best ``RANKING_TOP`` by AI total, the histogram of totals (``BINS`` bins over
    0-100, the last one closed), and the average over the whole job's scored
    candidates."""

    ranking: list[tuple[int, str, float]]  # (candidate id, name, total), best first
    bins: list[int]
    job_average: float | None
    pass_line: float


def chart_data(session: Session, job: Job, q: TableQuery) -> ChartData:
    """One scan of the matching candidates (the best ``RANKING_TOP`` by a window's row
    number, each carrying the histogram's counts as window sums) and one average over
    the job's scores, whatever the job's size."""
    job_id = job.id or 0
    where = [*_where(job_id, q), _S.total.is_not(None)]
    width = 100 / BINS
    bins = [
        func.sum(
            case(
                (
                    and_(
                        _S.total >= i * width,
                        _S.total < (i + 1) * width if i < BINS - 1 else _S.total <= 100.0,
                    ),
                    1,
                ),
                else_=0,
            )
        ).over()
        for i in range(BINS)
    ]
    rank = func.row_number().over(order_by=(_S.total.desc(), _C.id)).label("rank")
    inner = _joined(select(_C.id, _C.name, _S.total, rank, *bins), where, q).subquery()
    top = session.execute(
        select(inner).where(inner.c.rank <= RANKING_TOP).order_by(inner.c.rank)
    ).all()
    average = session.execute(
        select(func.avg(_S.total))
        .select_from(CandidateScore)
        .join(Candidate, _C.id == _S.candidate_id)
        .where(_S.job_id == job_id, _C.status != "deleted", _S.total.is_not(None))
    ).scalar_one()
    return ChartData(
        ranking=[(int(r[0]), str(r[1] or ""), float(r[2])) for r in top],
        bins=[int(n or 0) for n in top[0][4:]] if top else [0] * BINS,
        job_average=float(average) if average is not None else None,
        pass_line=float(job.pass_line),
    )


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
