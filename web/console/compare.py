"""Two to four candidates of one job side by side, per competency (AI scores, advisory)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from dialogs.kernel.access import parse_id
from dialogs.kernel.catalog import t
from dialogs.kernel.notify import competency_label
from storage.models import Candidate, CandidateScore, Job
from web.console.render import esc, num, table

MIN, MAX = 2, 4


def wanted_ids(values: list[str]) -> list[int] | None:
    """The candidate ids asked for (2-4 distinct), else None."""
    ids: list[int] = []
    for raw in values[: MAX + 1]:
        cid = parse_id(raw)
        if cid is None:
            return None
        if cid not in ids:
            ids.append(cid)
    return ids if MIN <= len(ids) <= MAX else None


def side_by_side(session: Session, job: Job, ids: list[int]) -> list[tuple[Candidate, Any]] | None:
    """The candidates (all of this job, none deleted) with their AI scores, else None."""
    found = session.exec(
        select(Candidate).where(
            col(Candidate.id).in_(ids), Candidate.job_id == job.id, Candidate.status != "deleted"
        )
    ).all()
    if len(found) != len(ids):
        return None
    scores = {
        s.candidate_id: s
        for s in session.exec(
            select(CandidateScore).where(col(CandidateScore.candidate_id).in_(ids))
        ).all()
    }
    order = {cid: n for n, cid in enumerate(ids)}
    return [(c, scores.get(c.id or 0)) for c in sorted(found, key=lambda c: order[c.id or 0])]


def compare_body(lang: str, job: Job, people: list[tuple[Candidate, Any]]) -> str:
    head = [esc(t(lang, "console_web.col_competency"))] + [
        f'<a href="/console/candidates/{c.id}">#{c.id} {esc(c.name)}</a>' for c, _ in people
    ]
    rows = []
    for comp in job.competencies:
        name = str(comp["name"])
        rows.append(
            [esc(f"{competency_label(name, lang)} ({comp['weight']}%)")]
            + [num((s.per_competency or {}).get(name) if s else None) for _, s in people]
        )
    rows.append(
        [esc(t(lang, "console_web.col_total"))] + [num(s.total if s else None) for _, s in people]
    )
    heading = t(lang, "console_web.compare_heading", job=job.code)
    return (
        f"<h1>{esc(heading)}</h1>"
        + table(heading, head, rows, "compare")
        + f'<p class="hint">{esc(t(lang, "console_web.advisory"))}</p>'
        + f'<p><a href="/console/jobs/{job.id}">{esc(t(lang, "console_web.back_to_job"))}</a></p>'
    )
