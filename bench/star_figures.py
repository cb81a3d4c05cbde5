"""The issue-15 figures of ``bench star``: held-out agreement and the failure classes.

Every function takes the evaluated items (``(item, evaluation, seconds)``) and returns
``name value unit`` lines; items come from the labelled YAML files with their
``split``, ``kind``, ``level``, ``twin``, ``paraphrase`` and ``team_of`` fields.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from scoring.star import Evaluation

Line = tuple[str, float, str]
Result = tuple[dict[str, Any], Evaluation, float]


def _total(evaluation: Evaluation) -> float:
    return evaluation.total if evaluation.total is not None else 0.0


def agreement(
    results: list[Result], spearman: Callable[[list[float], list[float]], float]
) -> list[Line]:
    """Spearman's rho of total vs quality (5 - level) on each split, injections left out."""
    lines: list[Line] = []
    for split in ("holdout", "tuning"):
        rows = [
            (i, e)
            for i, e, _ in results
            if i.get("split") == split and i["kind"] != "injection" and e.total is not None
        ]
        if len(rows) >= 2:
            rho = spearman([_total(e) for _, e in rows], [5.0 - i["level"] for i, _ in rows])
            lines.append((f"star.spearman_rho.{split}", round(rho, 3), f"rho_n{len(rows)}"))
    return lines


def twins(results: list[Result]) -> list[Line]:
    """Written/spoken twin gaps per language (points)."""
    by_id = {i["id"]: e for i, e, _ in results}
    lines: list[Line] = []
    for lang in ("zh", "en"):
        gaps = [
            abs(_total(e) - _total(by_id[i["twin"]]))
            for i, e, _ in results
            if i.get("twin") and i["lang"] == lang and i["twin"] in by_id
        ]
        if gaps:
            lines.append((f"star.twin_gap_mean.{lang}", round(statistics.fmean(gaps), 1), "points"))
            lines.append((f"star.twin_gap_max.{lang}", round(max(gaps), 1), "points"))
            lines.append((f"star.twin_pairs.{lang}", float(len(gaps)), "pairs"))
    return lines


def _genuine(item: dict[str, Any]) -> bool:
    """An answer that describes a real situation, even vaguely (levels 1-2, not a template)."""
    return item["kind"] == "labelled" and item.get("level") in (1, 2)


def templates(results: list[Result]) -> list[Line]:
    """Template max, flagged share, and whether each is below every genuine answer."""
    rows = [(i, e) for i, e, _ in results if i["kind"] == "template"]
    if not rows:
        return []
    below = 0
    for item, ev in rows:
        genuine = [
            _total(e)
            for i, e, _ in results
            if _genuine(i) and i["question_key"] == item["question_key"]
        ]
        if genuine and all(_total(ev) < g for g in genuine):
            below += 1
    flagged = sum(1 for _, e in rows if "template_answer" in e.flags)
    return [
        ("star.template_max_total", round(max(_total(e) for _, e in rows), 1), "points"),
        ("star.template_below_every_genuine", float(below), f"of_{len(rows)}"),
        ("star.template_flagged", float(flagged), f"of_{len(rows)}"),
    ]


def generic(results: list[Result]) -> list[Line]:
    """The highest total of a generic (level 3, not template) answer."""
    totals = [_total(e) for i, e, _ in results if i["kind"] == "labelled" and i.get("level") == 3]
    return [("star.generic_max_total", round(max(totals), 1), "points")] if totals else []


def paraphrases(results: list[Result]) -> list[Line]:
    """Score differences between an answer and its paraphrase."""
    by_id = {i["id"]: e for i, e, _ in results}
    diffs = [
        abs(_total(e) - _total(by_id[i["paraphrase"]]))
        for i, e, _ in results
        if i.get("paraphrase") in by_id
    ]
    if not diffs:
        return []
    return [
        ("star.paraphrase_diff_mean", round(statistics.fmean(diffs), 1), "points"),
        ("star.paraphrase_diff_max", round(max(diffs), 1), "points"),
    ]


def team_and_off_topic(results: list[Result]) -> list[Line]:
    """First-person minus team-only telling; the well-told off-topic story's total."""
    by_id = {i["id"]: e for i, e, _ in results}
    lines: list[Line] = []
    gaps = [
        _total(by_id[i["team_of"]]) - _total(e) for i, e, _ in results if i.get("team_of") in by_id
    ]
    if gaps:
        lines.append(
            ("star.first_person_minus_team_mean", round(statistics.fmean(gaps), 1), "points")
        )
    stories = [_total(e) for i, e, _ in results if i["id"].startswith("o-story")]
    if stories:
        lines.append(("star.off_topic_story_max_total", round(max(stories), 1), "points"))
    return lines


def injections(results: list[Result]) -> list[Line]:
    """Injection answers never above the same question's generic answer."""
    rows = [(i, e) for i, e, _ in results if i["kind"] == "injection"]
    if not rows:
        return []
    below = compared = 0
    for item, ev in rows:
        generic_totals = [
            _total(e)
            for i, e, _ in results
            if i["kind"] == "labelled"
            and i.get("level") == 3
            and i["question_key"] == item["question_key"]
        ]
        if generic_totals:
            compared += 1
            below += _total(ev) <= min(generic_totals)
    # (how many are flagged: ``star.injection_flagged``, printed by ``summarise``)
    return [("star.injection_not_above_generic", float(below), f"of_{compared}")]


def figures(
    results: list[Result], spearman: Callable[[list[float], list[float]], float]
) -> list[Line]:
    """All issue-15 figures."""
    return [
        *agreement(results, spearman),
        *twins(results),
        *templates(results),
        *generic(results),
        *paraphrases(results),
        *team_and_off_topic(results),
        *injections(results),
    ]
