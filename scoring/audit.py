"""An audit of the scorer on one job's own data: does it treat groups of answers alike?

Groups are the answer mode (voice, video, text) and the answer language, and, where HR
uploads them, candidate groups from a CSV (``candidate_id,group``; never collected by
the bot). Per group: how many, mean and median total, the pass rate at the job's pass
line; across groups: the gap between the highest and lowest mean, and the impact ratio
of each group's pass rate to the best group's, with a warning below four fifths (the
"four-fifths rule" of adverse-impact screening).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FOUR_FIFTHS = 0.8
MIN_GROUP = 5  # fewer answers than this: the figures are shown but not warned on


@dataclass(frozen=True)
class Scored:
    """One scored unit (an answer or a candidate) and the groups it belongs to."""

    total: float
    groups: Mapping[str, str]  # dimension -> group, e.g. {"mode": "voice", "lang": "zh"}


@dataclass(frozen=True)
class GroupFigures:
    name: str
    n: int
    mean: float
    median: float
    pass_rate: float
    impact_ratio: float | None = None  # pass rate / best group's pass rate
    warn: bool = False


@dataclass(frozen=True)
class DimensionAudit:
    dimension: str
    groups: list[GroupFigures]
    gap: float  # highest group mean minus lowest
    warnings: list[str] = field(default_factory=list)


def audit_dimension(
    rows: Iterable[Scored], dimension: str, pass_line: float, *, min_group: int = MIN_GROUP
) -> DimensionAudit:
    """Figures per group of one dimension, the mean gap and the four-fifths warnings."""
    by_group: dict[str, list[float]] = {}
    for row in rows:
        group = row.groups.get(dimension)
        if group:
            by_group.setdefault(group, []).append(row.total)
    figures = [
        GroupFigures(
            name=name,
            n=len(totals),
            mean=round(statistics.fmean(totals), 1),
            median=round(statistics.median(totals), 1),
            pass_rate=round(sum(t >= pass_line for t in totals) / len(totals), 3),
        )
        for name, totals in sorted(by_group.items())
    ]
    counted = [g for g in figures if g.n >= min_group]
    best = max((g.pass_rate for g in counted), default=0.0)
    out: list[GroupFigures] = []
    warnings: list[str] = []
    for g in figures:
        ratio = round(g.pass_rate / best, 3) if best > 0 else None
        warn = g.n >= min_group and ratio is not None and ratio < FOUR_FIFTHS
        if warn:
            warnings.append(g.name)
        out.append(
            GroupFigures(g.name, g.n, g.mean, g.median, g.pass_rate, impact_ratio=ratio, warn=warn)
        )
    means = [g.mean for g in figures]
    gap = round(max(means) - min(means), 1) if len(means) >= 2 else 0.0
    return DimensionAudit(dimension=dimension, groups=out, gap=gap, warnings=warnings)


def read_groups_csv(text: str) -> dict[str, str]:
    """``candidate_id,group`` rows (a header row is allowed) -> {candidate id: group}.

    Raises:
        ValueError: a row without two columns, or an empty file.
    """
    groups: dict[str, str] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text.lstrip("\ufeff"))), 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise ValueError(f"line {number}: expected candidate_id,group")
        key, group = row[0].strip(), row[1].strip()
        if number == 1 and not key.isdigit():
            continue  # header
        if key and group:
            groups[key] = group
    if not groups:
        raise ValueError("no candidate_id,group rows")
    return groups


def format_audit(audits: list[DimensionAudit], pass_line: float) -> str:
    """Plain lines for the terminal (``main.py audit``)."""
    lines = [f"pass line: {pass_line:g}"]
    for audit in audits:
        lines.append(f"{audit.dimension}: gap {audit.gap:g} points")
        for g in audit.groups:
            ratio = "-" if g.impact_ratio is None else f"{g.impact_ratio:.2f}"
            mark = "  WARNING: below four fifths of the best group" if g.warn else ""
            lines.append(
                f"  {g.name:<12} n={g.n:<4} mean={g.mean:<6g} median={g.median:<6g} "
                f"pass={g.pass_rate:.0%} impact={ratio}{mark}"
            )
    return "\n".join(lines)


__all__ = [
    "FOUR_FIFTHS",
    "DimensionAudit",
    "GroupFigures",
    "Scored",
    "audit_dimension",
    "format_audit",
    "read_groups_csv",
]
