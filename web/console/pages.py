"""The HTML of each console page, from data already read and authorised."""

from __future__ import annotations

from typing import Any

from dialogs.console.links import ConsoleSession
from dialogs.kernel.catalog import t
from dialogs.kernel.notify import competency_label
from storage.models import Answer, Decision, HumanScore, Job
from web.console.charts import histogram_svg, ranking_svg
from web.console.queries import (
    DECISIONS,
    HUMAN,
    LANGUAGES,
    MODES,
    STATUSES,
    ChartData,
    JobRow,
    TablePage,
)
from web.console.render import esc, hidden, href, num, pct, post_form, table

ELEMENTS = ("situation", "task", "action", "result")


def _tx(lang: str, key: str, **values: Any) -> str:
    return esc(t(lang, f"console_web.{key}", **values))


def job_title(job: Job, lang: str) -> str:
    return job.title_zh if lang == "zh" else job.title_en


def jobs_body(lang: str, rows: list[JobRow]) -> str:
    if not rows:
        return f"<h1>{_tx(lang, 'jobs_heading')}</h1><p>{_tx(lang, 'no_jobs')}</p>"
    head = [
        _tx(lang, k)
        for k in (
            "col_job",
            "col_invited",
            "col_started",
            "col_completed",
            "col_decided",
            "col_signed",
            "col_pass_rate",
            "col_average",
        )
    ]
    body_rows = [
        [
            f'<a href="/console/jobs/{r.job.id}">{esc(r.job.code)} — '
            f"{esc(job_title(r.job, lang))}</a>",
            str(r.invited),
            str(r.started),
            str(r.completed),
            str(r.decided),
            str(r.signed),
            pct(r.pass_rate),
            num(r.average),
        ]
        for r in rows
    ]
    bars = "".join(_funnel_bars(lang, r) for r in rows)
    return (
        f"<h1>{_tx(lang, 'jobs_heading')}</h1>"
        + table(t(lang, "console_web.funnel_caption"), head, body_rows, "jobs")
        + bars
        + f'<p class="hint">{_tx(lang, "advisory")}</p>'
    )


def _funnel_bars(lang: str, r: JobRow) -> str:
    """The funnel as bars (CSS widths in steps of 5%, no inline style: the CSP forbids it)."""
    stages = [
        ("col_invited", r.invited),
        ("col_started", r.started),
        ("col_completed", r.completed),
        ("col_decided", r.decided),
        ("col_signed", r.signed),
    ]
    top = max(r.invited, 1)
    items = "".join(
        f'<li><span class="label">{_tx(lang, key)}</span>'
        f'<span class="bar w{min(100, round(n * 20 / top) * 5)}" aria-hidden="true"></span>'
        f'<span class="n">{n}</span></li>'
        for key, n in stages
    )
    return (
        f'<section class="card funnel"><h2>{esc(r.job.code)}</h2>'
        f'<ol aria-label="{_tx(lang, "funnel_caption")}">{items}</ol></section>'
    )


def _select(
    lang: str,
    name: str,
    label_key: str,
    options: tuple[str, ...],
    value: str,
    labels: dict[str, str] | None = None,
) -> str:
    shown = labels or {}
    opts = f'<option value="">{_tx(lang, "f_any")}</option>' + "".join(
        f'<option value="{esc(o)}"{" selected" if o == value else ""}>'
        f"{esc(shown.get(o, o))}</option>"
        for o in options
    )
    return (
        f'<div class="field"><label for="f-{name}">{_tx(lang, label_key)}</label>'
        f'<select id="f-{name}" name="{name}">{opts}</select></div>'
    )


def _number(lang: str, name: str, label_key: str, value: float | None) -> str:
    return (
        f'<div class="field"><label for="f-{name}">{_tx(lang, label_key)}</label>'
        f'<input id="f-{name}" name="{name}" inputmode="decimal" size="6" '
        f'value="{esc("" if value is None else f"{value:g}")}"></div>'
    )


def candidates_body(lang: str, job: Job, tp: TablePage, charts: ChartData | None = None) -> str:
    q = tp.query
    base = f"/console/jobs/{job.id}"
    names = tuple(str(c["name"]) for c in job.competencies)
    filters = (
        f'<form method="get" action="{esc(base)}" class="filters card" '
        f'aria-label="{_tx(lang, "filters")}">'
        + hidden("sort", q.sort)
        + hidden("dir", "desc" if q.descending else "asc")
        + _select(lang, "status", "f_status", STATUSES, q.status)
        + _select(lang, "language", "f_language", LANGUAGES, q.language)
        + _select(lang, "mode", "f_mode", MODES, q.mode)
        + _select(lang, "decision", "f_decision", DECISIONS, q.decision)
        + _number(lang, "min_total", "f_min_total", q.min_total)
        + _select(
            lang,
            "comp",
            "f_competency",
            names,
            q.competency,
            {n: competency_label(n, lang) for n in names},
        )
        + _number(lang, "comp_min", "f_min_competency", q.min_competency)
        + _select(
            lang,
            "human",
            "f_human",
            HUMAN,
            q.human,
            {h: t(lang, f"console_web.f_human_{h}") for h in HUMAN},
        )
        + _number(lang, "min_human", "f_min_human", q.min_human)
        + f'<button type="submit">{_tx(lang, "apply")}</button></form>'
    )

    def sort_head(column: str, key: str) -> str:
        label = t(lang, f"console_web.{key}")
        descending = not (q.sort == column and q.descending)
        link = href(base, q.params(sort=column, dir="desc" if descending else "asc", page=1))
        mark = ""
        if q.sort == column:
            mark = " ▼" if q.descending else " ▲"
        return (
            f'<a href="{link}" aria-label="{_tx(lang, "sort_by", column=label)}" '
            f'data-sort="{esc(column)}">{esc(label)}{mark}</a>'
        )

    head = [
        sort_head("id", "col_id"),
        _tx(lang, "col_name"),
        sort_head("status", "col_status"),
        sort_head("total", "col_total"),
        sort_head("language", "col_language"),
        _tx(lang, "col_mode"),
        sort_head("decision", "col_decision"),
        _tx(lang, "col_compare"),
    ]
    rows = [
        [
            f'<a href="/console/candidates/{r.id}">#{r.id}</a>',
            f'<a href="/console/candidates/{r.id}">{esc(r.name)}</a>',
            esc(r.status),
            num(r.total),
            esc(r.language or "-"),
            esc(", ".join(r.modes) or "-"),
            esc(_outcome(lang, r.decision)),
            f'<input type="checkbox" name="c" value="{r.id}" form="compare" '
            f'aria-label="{_tx(lang, "compare_one", id=r.id)}">',
        ]
        for r in tp.rows
    ]
    pager = [f"<span>{_tx(lang, 'page_of', page=q.page, pages=tp.pages, count=tp.count)}</span>"]
    if q.page > 1:
        pager.insert(
            0,
            f'<a rel="prev" href="{href(base, q.params(page=q.page - 1))}">{_tx(lang, "prev")}</a>',
        )
    if q.page < tp.pages:
        pager.append(
            f'<a rel="next" href="{href(base, q.params(page=q.page + 1))}">{_tx(lang, "next")}</a>'
        )
    exports = (
        f'<p class="exports"><a href="{esc(base)}/live">{_tx(lang, "live_link")}</a> · '
        f'<a href="{esc(base)}/export.csv">{_tx(lang, "export_csv")}</a> · '
        f'<a href="{esc(base)}/export.xlsx">{_tx(lang, "export_xlsx")}</a></p>'
    )
    heading = _tx(lang, "candidates_heading", job=f"{job.code} {job_title(job, lang)}")
    return (
        f"<h1>{heading}</h1>{filters}"
        + table(heading, head, rows, "candidates")
        + f'<form method="get" action="{esc(base)}/compare" id="compare" class="compare">'
        f'<button type="submit">{_tx(lang, "compare_selected")}</button></form>'
        + f'<nav class="pager" aria-label="{_tx(lang, "page_of", page=q.page, pages=tp.pages, count=tp.count)}">'
        + " ".join(pager)
        + "</nav>"
        + exports
        + _charts(lang, charts, tp.count)
        + f'<p class="hint">{_tx(lang, "advisory")}</p>'
    )


def _charts(lang: str, data: ChartData | None, matching: int) -> str:
    if data is None:
        return ""
    return (
        f'<section class="card charts" aria-labelledby="charts-h">'
        f'<h2 id="charts-h">{_tx(lang, "charts")}</h2>'
        # Focusable, so a chart wider than a phone scrolls from the keyboard too.
        f'<figure class="scroll" tabindex="0" aria-label="{_tx(lang, "chart_ranking")}">'
        f"{ranking_svg(lang, data, matching)}</figure>"
        f'<figure class="scroll" tabindex="0" aria-label="{_tx(lang, "chart_histogram")}">'
        f"{histogram_svg(lang, data)}</figure></section>"
    )


def _outcome(lang: str, decision: str) -> str:
    if decision in ("approve", "next_round", "reject"):
        return t(lang, f"console_web.outcome_{decision}")
    return t(lang, "console_web.pending")


def highlight(transcript: str, evaluation: Any) -> str:
    """The transcript, escaped, with each STAR evidence quote marked by its element."""
    spans: list[tuple[int, int, str, str]] = []
    for element in ELEMENTS:
        star = evaluation.star.get(element) if evaluation is not None else None
        for quote in star.evidence if star is not None else []:
            quote = quote.strip()
            start = transcript.find(quote) if quote else -1
            if start >= 0 and star is not None:
                spans.append((start, start + len(quote), element, star.rationale))
    spans.sort()
    out, at = [], 0
    for start, end, element, reason in spans:
        if start < at:
            continue  # overlapping quotes: the first one keeps the mark
        out.append(esc(transcript[at:start]))
        out.append(
            f'<mark class="el-{element}" title="{esc(element)}: {esc(reason)}">'
            f"{esc(transcript[start:end])}</mark>"
        )
        at = end
    out.append(esc(transcript[at:]))
    return "".join(out)


def candidate_body(
    lang: str,
    cs: ConsoleSession,
    job: Job,
    candidate: Any,
    comp: Any,
    rows: list[tuple[Answer, Any]],
    decision: Decision | None,
    human: list[HumanScore],
    notice: str = "",
    may_score: bool = False,
    sections: str = "",
) -> str:
    """The candidate page; ``sections``: more of it (HTML: notes, contracts), placed
    after the answers, before the decision."""
    cid = candidate.id
    parts = [
        f"<h1>{_tx(lang, 'candidate_heading', id=cid, name=candidate.name)}</h1>",
        f"<p>{_tx(lang, 'job_line', job=f'{job.code} {job_title(job, lang)}', pass_line=f'{job.pass_line:g}')}</p>",
    ]
    if notice:
        parts.append(f'<p class="notice" role="status" id="notice">{esc(notice)}</p>')
    total = num(comp.total) if comp.total is not None else t(lang, "console_web.not_scored")
    parts.append(f'<p class="total advisory">{_tx(lang, "ai_total", total=total)}</p>')
    # Another person's score for a competency shows once this person has given their own.
    comp_rows = []
    for c in job.competencies:
        name = str(c["name"])
        mine = next((h.score for h in human if h.competency == name and h.scorer == cs.actor), None)
        others = [h.score for h in human if h.competency == name and h.scorer != cs.actor]
        if not others:
            people = "-"
        elif mine is not None or not may_score:
            people = f"{sum(others) / len(others):.1f} (n={len(others)})"
        else:
            people = t(lang, "console_web.hidden_until_yours", n=len(others))
        comp_rows.append(
            [
                esc(competency_label(name, lang)),
                num(comp.per_competency.get(name)),
                "-" if mine is None else str(mine),
                esc(people),
            ]
        )
    parts.append(
        table(
            t(lang, "console_web.competencies"),
            [
                _tx(lang, "col_competency"),
                _tx(lang, "col_ai"),
                _tx(lang, "col_mine"),
                _tx(lang, "col_human"),
            ],
            comp_rows,
        )
    )
    if may_score:  # scoring and asking need the same role (hr_manager)
        parts.append(_score_forms(lang, cs, cid, job))
        parts.append(
            f'<section class="card ask" aria-labelledby="ask-h">'
            f'<h2 id="ask-h">{_tx(lang, "ask_heading")}</h2>'
            + post_form(
                f"/console/candidates/{cid}/ask",
                cs,
                f'<label for="ask-q">{_tx(lang, "ask_label")}</label>'
                f'<input id="ask-q" name="question" maxlength="500" required>'
                f'<button type="submit">{_tx(lang, "ask_send")}</button>',
                css="score",
            )
            + "</section>"
        )
    parts.append(f"<h2>{_tx(lang, 'answers')}</h2>")
    for n, (answer, ev) in enumerate(rows, start=1):
        parts.append(_answer(lang, n, answer, ev))
    parts.append(sections)
    parts.append(_decision(lang, cs, cid, decision))
    parts.append(f'<p class="hint">{_tx(lang, "advisory")}</p>')
    return "".join(parts)


def _answer(lang: str, n: int, answer: Answer, ev: Any) -> str:
    transcript = answer.text or ""
    legend = []
    for element in ELEMENTS:
        star = ev.star.get(element) if ev is not None else None
        if star is None:
            continue
        reason = star.rationale or (
            "; ".join(star.evidence) if star.evidence else t(lang, "console_web.no_evidence")
        )
        legend.append(
            f'<li class="el-{element}">'
            + _tx(
                lang,
                "element_line",
                element=t(lang, f"console_web.element_{element}"),
                score="-" if star.score is None else star.score,
                reason=reason,
            )
            + "</li>"
        )
    flags = list(ev.flags) if ev is not None else []
    if answer.quality_reason:
        flags.append(answer.quality_reason)
    text = highlight(transcript, ev) if transcript else _tx(lang, "no_transcript")
    score = num(ev.total) if ev is not None and ev.total is not None else "-"
    player = ""
    if answer.media_path:
        tag = "video" if answer.kind == "video" else "audio"
        player = (
            f'<{tag} controls preload="metadata" src="/console/answers/{answer.id}/media" '
            f'aria-label="{_tx(lang, "recording", n=n)}"></{tag}>'
        )
    return (
        f'<article class="card answer" aria-labelledby="q{n}">'
        f'<h3 id="q{n}">{_tx(lang, "question", n=n, text=answer.question_text or "")}</h3>'
        f'<p class="meta">{esc(competency_label(answer.competency, lang))} · {esc(answer.kind)} · '
        f'<span class="advisory">{_tx(lang, "answer_ai", score=score)}</span></p>'
        + player
        + f'<h4>{_tx(lang, "transcript")}</h4><blockquote class="transcript">{text}</blockquote>'
        + (
            f'<h4>{_tx(lang, "evidence")}</h4><ul class="legend">{"".join(legend)}</ul>'
            if legend
            else ""
        )
        + (f'<p class="flags">{_tx(lang, "flags", flags=", ".join(flags))}</p>' if flags else "")
        + "</article>"
    )


def _score_forms(lang: str, cs: ConsoleSession, cid: int, job: Job) -> str:
    forms = []
    for index, c in enumerate(job.competencies):
        label = competency_label(str(c["name"]), lang)
        options = "".join(f'<option value="{v}">{v}</option>' for v in range(1, 6))
        forms.append(
            post_form(
                f"/console/candidates/{cid}/score",
                cs,
                hidden("competency", str(index)) + f"<fieldset><legend>{esc(label)}</legend>"
                f'<label for="s{index}">{_tx(lang, "score_label")}</label>'
                f'<select id="s{index}" name="score">{options}</select>'
                f'<label for="c{index}">{_tx(lang, "comment_label")}</label>'
                f'<input id="c{index}" name="comment" maxlength="500">'
                f'<button type="submit">{_tx(lang, "score_save")}</button></fieldset>',
                css="score",
            )
        )
    return (
        f'<section class="card scores" aria-labelledby="score-h">'
        f'<h2 id="score-h">{_tx(lang, "score_heading")}</h2>'
        f'<p class="hint">{_tx(lang, "score_hint")}</p>{"".join(forms)}</section>'
    )


def _decision(lang: str, cs: ConsoleSession, cid: int, decision: Decision | None) -> str:
    head = f'<section class="card decision" aria-labelledby="dec-h"><h2 id="dec-h">{_tx(lang, "decision_heading")}</h2>'
    if decision is not None and decision.status == "decided":
        return (
            head
            + f"<p>{_tx(lang, 'decided', outcome=_outcome(lang, decision.outcome or ''), who=decision.decided_by or '?')}</p></section>"
        )
    buttons = "".join(
        post_form(
            f"/console/candidates/{cid}/decide",
            cs,
            hidden("outcome", code)
            + f'<button type="submit" class="{css}" name="go" value="{code}">{_tx(lang, key)}</button>',
        )
        for code, key, css in (
            ("a", "approve", "primary"),
            ("n", "next_round", "secondary"),
            ("r", "reject", "danger"),
        )
    )
    return head + f'<div class="buttons">{buttons}</div></section>'
