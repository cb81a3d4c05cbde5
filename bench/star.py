"""STAR calibration benchmark: ``python main.py bench star`` (or ``python -m bench.star``).

Scores the labelled set in ``tests/fixtures/star/answers.yaml`` with the configured
evaluator and prints ``name value unit`` lines: Spearman's rho between the total and
the answer quality (quality = 5 - level, so higher is better), the mean total per
level, the highest total of any injection answer, the zh/en gap on paired answers and
the seconds per answer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bench import star_figures
from core.errors import EvaluationError
from core.settings import Settings, load_settings
from scoring.evaluator import ChatBackend, Evaluator, StarEvaluator, build_backend
from scoring.star import AnswerInput, Evaluation

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "star"
FIXTURE = FIXTURES_DIR / "answers.yaml"
# The whole labelled set: answers.yaml (tuning), holdout.yaml (held out) and
# substance.yaml (each item says its split).
ALL_FIXTURES = (FIXTURE, FIXTURES_DIR / "holdout.yaml", FIXTURES_DIR / "substance.yaml")

Line = tuple[str, float, str]


def load_fixture(path: Path = FIXTURE) -> list[dict[str, Any]]:
    """Labelled items with the question text and competency resolved.

    An item without ``split`` is held out when it comes from ``holdout.yaml``, else tuning.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items: list[dict[str, Any]] = []
    for raw in data["answers"]:
        item = dict(raw)
        key = item["question"]
        item["question_key"] = key
        item["question"] = data["questions"][key][item["lang"]]
        item["competency"] = data["competencies"][key]
        item.setdefault("kind", "labelled")
        item.setdefault("split", "holdout" if path.name == "holdout.yaml" else "tuning")
        items.append(item)
    return items


def load_fixtures(paths: Sequence[Path] = ALL_FIXTURES) -> list[dict[str, Any]]:
    """Items of several labelled files (ids must be unique across them)."""
    items = [item for path in paths for item in load_fixture(path)]
    ids = [item["id"] for item in items]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate answer ids across the labelled files")
    return items


def to_input(item: dict[str, Any]) -> AnswerInput:
    return AnswerInput(
        question=item["question"],
        answer=item["answer"],
        lang=item["lang"],
        competency=item["competency"],
    )


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rho with average ranks for ties (Pearson on the ranks)."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("need two equally long lists of at least two values")
    rx, ry = _ranks(x), _ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return 0.0
    return float(cov / (vx * vy) ** 0.5)


def measure(
    evaluator: Evaluator, items: list[dict[str, Any]], replies: ReplyCache | None = None
) -> list[tuple[dict[str, Any], Evaluation, float]]:
    """Evaluate every item, timing each call (model time from the cache when replayed)."""
    out: list[tuple[dict[str, Any], Evaluation, float]] = []
    for item in items:
        started = time.perf_counter()
        try:
            result = evaluator.evaluate(to_input(item))
        except EvaluationError as exc:  # the model call itself failed (timeout, crash)
            print(f"# {item['id']} error: {exc}", file=sys.stderr, flush=True)
            continue
        seconds = time.perf_counter() - started
        if replies is not None:
            seconds = replies.last_seconds * result.attempts
        out.append((item, result, seconds))
        print(f"# {item['id']} {seconds:.1f}s total={result.total}", file=sys.stderr, flush=True)
    return out


def summarise(results: list[tuple[dict[str, Any], Evaluation, float]]) -> list[Line]:
    """The benchmark lines for a set of evaluated items."""
    lines: list[Line] = []
    labelled = [
        (i, e)
        for i, e, _ in results
        if i["kind"] == "labelled" and e.total is not None and not i.get("twin")
    ]
    if len(labelled) >= 2:
        rho = spearman(
            [e.total or 0.0 for _, e in labelled], [5.0 - i["level"] for i, _ in labelled]
        )
        lines.append(("star.spearman_rho_total_vs_quality", round(rho, 3), "rho"))
    level_means: dict[int, float] = {}
    for level in (1, 2, 3, 4):
        totals = [e.total or 0.0 for i, e in labelled if i["level"] == level]
        if totals:
            level_means[level] = statistics.fmean(totals)
            lines.append((f"star.mean_total.level{level}", round(level_means[level], 1), "points"))
    injections = [e.total or 0.0 for i, e, _ in results if i["kind"] == "injection"]
    if injections:
        lines.append(("star.injection_max_total", round(max(injections), 1), "points"))
        flagged = sum(
            1 for i, e, _ in results if i["kind"] == "injection" and "injection_attempt" in e.flags
        )
        lines.append(("star.injection_flagged", float(flagged), f"of_{len(injections)}"))
        if 2 in level_means:
            below = all(t < level_means[2] for t in injections)
            lines.append(("star.injection_all_below_level2_mean", float(below), "bool"))
    by_pair: dict[str, dict[str, float]] = {}
    for i, e in labelled:
        if i.get("pair"):
            by_pair.setdefault(i["pair"], {})[i["lang"]] = e.total or 0.0
    gaps = [abs(v["zh"] - v["en"]) for v in by_pair.values() if {"zh", "en"} <= v.keys()]
    if gaps:
        lines.append(("star.pair_gap_mean", round(statistics.fmean(gaps), 1), "points"))
        lines.append(("star.pair_gap_max", round(max(gaps), 1), "points"))
        lines.append(("star.pairs_within_10", float(sum(g <= 10 for g in gaps)), f"of_{len(gaps)}"))
    lines += star_figures.figures(results, spearman)
    seconds = [s for _, _, s in results]
    if seconds:
        lines.append(("star.seconds_per_answer_mean", round(statistics.fmean(seconds), 2), "s"))
        lines.append(("star.seconds_per_answer_max", round(max(seconds), 2), "s"))
    review = sum(1 for _, e, _ in results if e.status == "needs_review")
    dropped = sum(e.dropped_quotes for _, e, _ in results)
    lines.append(("star.needs_review", float(review), "answers"))
    lines.append(("star.dropped_quotes", float(dropped), "quotes"))
    return lines


class ReplyCache:
    """Keeps raw model replies (and how long each took) in a JSON file.

    Lets a long benchmark on a busy machine resume, and lets the deterministic scorer
    be re-run over the same model output. Seconds per answer are those measured when
    the reply was first produced.
    """

    def __init__(self, backend: ChatBackend, path: Path) -> None:
        self._backend = backend
        self._path = path
        self._data: dict[str, dict[str, Any]] = (
            json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        )
        self.last_seconds = 0.0

    @property
    def model_id(self) -> str:
        return self._backend.model_id

    def complete(self, messages: Any, schema: dict[str, Any]) -> str:
        key = hashlib.sha256(
            json.dumps([self.model_id, list(messages), schema], ensure_ascii=False).encode()
        ).hexdigest()
        hit = self._data.get(key)
        if hit is None:
            started = time.perf_counter()
            raw = self._backend.complete(messages, schema)
            hit = {"raw": raw, "seconds": time.perf_counter() - started}
            self._data[key] = hit
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._path.write_text(json.dumps(self._data, ensure_ascii=False), encoding="utf-8")
        self.last_seconds = float(hit["seconds"])
        return str(hit["raw"])


def run(
    settings: Settings,
    *,
    evaluator: Evaluator | None = None,
    fixture: Path | Sequence[Path] = ALL_FIXTURES,
    limit: int | None = None,
    verbose: bool = False,
    cache: Path | None = None,
    every: int = 1,
    threads: int = 1,
    split: str | None = None,
    ids: Sequence[str] | None = None,
) -> list[Line]:
    """Score the labelled set; the caller prints the ``name value unit`` lines.

    ``main.py bench star`` prints them (``dialogs/kernel/cli.py``), as does ``main()`` here.

    Args:
        settings: chooses the evaluator (``llm.provider``) unless ``evaluator`` is given.
        evaluator: use this one instead (tests pass a fake).
        fixture: the labelled YAML file(s); default the whole set.
        limit: only the first N items (a quick look).
        verbose: also print one line per item.
        cache: keep raw model replies in this JSON file (resume, re-score).
        every: only every Nth item of the set.
    """
    replies: ReplyCache | None = None
    if evaluator is None:
        backend = build_backend(settings, allow_fake=True, threads=threads)
        if cache is not None:
            backend = replies = ReplyCache(backend, cache)
        evaluator = StarEvaluator(backend, max_retries=settings.llm.max_retries)
    paths = [fixture] if isinstance(fixture, Path) else list(fixture)
    items = [i for i in load_fixtures(paths) if split is None or i["split"] == split]
    items = [i for i in items if ids is None or i["id"] in ids][::every]
    # One language after the other: the rubric in the system prompt is in the answer's
    # language, and llama.cpp reuses the cached prompt prefix while it stays the same.
    items.sort(key=lambda i: i["lang"])
    items = items[:limit] if limit else items
    results = measure(evaluator, items, replies)
    if verbose:
        for item, result, secs in results:
            scores = "/".join(str(el.score) for el in result.star.values())
            print(
                f"# {item['id']:<16} level={item.get('level', '-')} total={result.total} "
                f"star={scores} flags={','.join(result.flags) or '-'} {secs:.1f}s",
                flush=True,
            )
    lines = summarise(results)
    lines.insert(0, ("star.model", 0.0, evaluator.model_id))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=None)
    parser.add_argument("--model", default=None, help="override llm.model")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--every", type=int, default=1, help="only every Nth item (a quick look)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (local)")
    parser.add_argument(
        "--fixture",
        type=Path,
        action="append",
        default=None,
        help="labelled YAML file(s) (default: answers, holdout and substance)",
    )
    parser.add_argument("--split", choices=("tuning", "holdout"), default=None)
    parser.add_argument("--ids", default=None, help="only these answer ids (comma-separated)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per model call")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--cache", type=Path, default=None, help="JSON file of raw model replies")
    args = parser.parse_args(argv)
    llm: dict[str, Any] = {"timeout_seconds": args.timeout}
    if args.model:
        llm["model"] = args.model
    settings = load_settings(args.config, overrides={"llm": llm})
    for name, value, unit in run(
        settings,
        limit=args.limit,
        verbose=args.verbose,
        cache=args.cache,
        every=args.every,
        threads=args.threads,
        fixture=args.fixture or ALL_FIXTURES,
        split=args.split,
        ids=args.ids.split(",") if args.ids else None,
    ):
        print(f"{name} {value} {unit}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
