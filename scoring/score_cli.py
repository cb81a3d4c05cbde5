"""``main.py score`` (one answer, no database) and ``main.py report CANDIDATE_ID -o out.pdf``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.settings import load_settings
from scoring.star import AnswerInput, Evaluation

EXIT_NEEDS_REVIEW = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``score`` and ``report``."""
    score = sub.add_parser("score", help="score one interview answer with the STAR evaluator")
    score.add_argument("--question", required=True, type=_text, help="the question asked")
    source = score.add_mutually_exclusive_group(required=True)
    source.add_argument("--answer", help="the answer text (or transcript)")
    source.add_argument("--answer-file", type=Path, help="a UTF-8 file with the answer")
    score.add_argument("--lang", choices=("zh", "en"), default=None, help="default: detect")
    score.add_argument("--competency", default="", help="the question's competency")
    score.add_argument("--rubric", default="", help="the question's rubric text")
    score.add_argument(
        "--segments",
        type=Path,
        default=None,
        help="recogniser segments (JSON of `transcribe --json`, or its list of segments): "
        "their pauses mark sentence ends",
    )
    score.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    score.set_defaults(func=_score)

    report = sub.add_parser("report", help="render a candidate's PDF report from the database")
    report.add_argument("candidate_id", type=int)
    report.add_argument("-o", "--output", type=Path, required=True, help="PDF file to write")
    report.add_argument("--lang", choices=("zh", "en"), default=None)
    report.add_argument("--ranking-png", type=Path, default=None, help="also write the batch chart")
    report.set_defaults(func=_report)


def _text(value: str) -> str:
    """An argument that must hold some text (the evaluator refuses an empty question)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _score(args: argparse.Namespace) -> int:
    from scoring.evaluator import build_evaluator

    settings = load_settings(args.config)
    answer = args.answer
    if args.answer_file is not None:
        try:
            answer = args.answer_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"--answer-file: cannot read {args.answer_file}: {reason}") from exc
    item = AnswerInput(
        question=args.question,
        answer=answer,
        lang=args.lang,
        competency=args.competency,
        rubric=args.rubric,
        segments=_segments(args.segments) if args.segments is not None else None,
    )
    result = build_evaluator(settings).evaluate(item)
    if args.json:
        print(json.dumps(result.public_json(), ensure_ascii=False, indent=2))
    else:
        print(format_evaluation(result))
    return EXIT_NEEDS_REVIEW if result.status == "needs_review" else 0


def _segments(path: Path) -> list[dict[str, Any]]:
    """Segments with ``start``, ``end`` and ``text`` from a ``transcribe --json`` file.

    Raises:
        ConfigError: unreadable, not JSON, or segments without those fields.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"--segments: cannot read {path}: {exc}") from exc
    segments = data.get("segments") if isinstance(data, dict) else data
    if not isinstance(segments, list) or not all(
        isinstance(s, dict) and {"start", "end", "text"} <= s.keys() for s in segments
    ):
        raise ConfigError(f"--segments: {path}: expected a list of {{start, end, text}}")
    return segments


def format_evaluation(result: Evaluation) -> str:
    """A short human-readable summary (for the terminal)."""
    lines = [
        f"total: {result.total if result.total is not None else 'needs review'}",
        f"flags: {', '.join(result.flags) or '-'}",
    ]
    for name, el in result.star.items():
        lines.append(f"{name}: {el.score if el.score is not None else '-'}/5  {el.rationale}")
        lines += [f"    “{quote}”" for quote in el.evidence]
    if result.dimensions:
        lines.append("dimensions: " + ", ".join(f"{k} {v}" for k, v in result.dimensions.items()))
    if result.events:
        lines.append("events: " + "; ".join(result.events))
    lines += [f"suggestion: {s}" for s in result.suggestions]
    lines.append(
        f"model: {result.model}  prompt: {result.prompt_version}  latency: {result.latency_s:.1f}s"
    )
    if result.error:
        lines.append(f"error: {result.error}")
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> int:
    from scoring.report import ranking_chart_png, render_candidate_report

    settings = load_settings(args.config)
    lang = args.lang or settings.app.default_language
    data, ranking = build_report_data(settings, args.candidate_id, lang)
    render_candidate_report(data, args.output)
    print(f"wrote {args.output}")
    if args.ranking_png is not None and ranking is not None:
        entries, names, average = ranking
        ranking_chart_png(
            entries, names, pass_line=data.pass_line, job_average=average, lang=data.lang,
            path=args.ranking_png,
        )  # fmt: skip
        print(f"wrote {args.ranking_png}")
    return 0


def build_report_data(settings: Any, candidate_id: int, lang: str) -> tuple[Any, Any]:
    """Read the candidate, the job and the stored evaluations; rank within the batch.

    Raises:
        ConfigError: no such candidate.
    """
    from sqlmodel import select

    from dialogs.hiring.results import candidate_composite
    from dialogs.kernel.notify import competency_label
    from scoring.composite import rank_batch
    from scoring.report import AnswerReport, CandidateReportData, CompetencyLine
    from storage.cli import open_migrated_database
    from storage.models import Candidate, CandidateScore, Job

    db = open_migrated_database(settings)
    with db.session() as session:
        candidate = session.get(Candidate, candidate_id)
        if candidate is None:
            raise ConfigError(f"no candidate with id {candidate_id}")
        job = session.get(Job, candidate.job_id)
        if job is None:
            raise ConfigError(f"candidate {candidate_id} has no job")
        comp, rows = candidate_composite(session, job, candidate_id)
        scores = session.exec(select(CandidateScore).where(CandidateScore.job_id == job.id)).all()
        batch_ids = {
            c.id
            for c in session.exec(
                select(Candidate).where(
                    Candidate.job_id == job.id, Candidate.batch == candidate.batch
                )
            ).all()
        }
        names = {
            str(c.id): c.name
            for c in session.exec(select(Candidate).where(Candidate.job_id == job.id)).all()
        }
        batch_totals: dict[str, float | None] = {
            str(s.candidate_id): s.total
            for s in scores
            if s.candidate_id in batch_ids and s.candidate_id != candidate_id
        }
        batch_totals[str(candidate_id)] = comp.total
        earlier = [
            s.total for s in scores if s.candidate_id not in batch_ids and s.total is not None
        ]
        entries = rank_batch(batch_totals, job_totals=earlier, pass_line=job.pass_line)
        mine = next((e for e in entries if e.candidate_id == str(candidate_id)), None)
        population = [*earlier, *(e.total for e in entries)]
        average = sum(population) / len(population) if population else None
        data = CandidateReportData(
            lang="en" if lang == "en" else "zh",
            candidate_id=str(candidate_id),
            candidate_name=candidate.name,
            job_title=job.title_en if lang == "en" else job.title_zh,
            total=comp.total,
            provisional=comp.provisional,
            pass_line=job.pass_line,
            rank=mine.rank if mine else None,
            batch_size=mine.batch_size if mine else None,
            tied=mine.tied if mine else False,
            vs_job_average=mine.vs_job_average if mine else None,
            percentile=mine.percentile if mine else None,
            competencies=[
                CompetencyLine(
                    name=competency_label(str(c["name"]), lang),
                    weight=float(c["weight"]),
                    score=comp.per_competency.get(str(c["name"])),
                )
                for c in job.competencies
            ],
            answers=[
                AnswerReport(
                    question=answer.question_text,
                    competency=competency_label(answer.competency, lang),
                    transcript=answer.text or "",
                    evaluation=ev,
                )
                for answer, ev in rows
                if ev is not None
            ],
            generated_at=dt.datetime.now(dt.UTC),
        )
    db.engine.dispose()  # a CLI run: close pooled connections now, not at garbage collection
    ranking = (entries, names, average) if entries else None
    return data, ranking
