"""The job page's charts as server-rendered SVG: the batch ranking and the distribution
of AI totals, each with the pass line and the job average, both labelled.

No script and no library: the SVG is part of the page's HTML (the CSP allows it; colours
are presentation attributes, not ``style``). Every label has a row of its own, so with
one candidate or thirty no label covers the title, a bar or another label: the title
on top, then the plot, then one row per line label (ranking) — or the label rows above
the plot (histogram). Text widths are estimated generously (a CJK character is one em,
anything else 0.62 em) to place the labels' white boxes.

Accessible: ``role="img"`` with ``<title>`` and ``<desc>`` (the numbers in words) named
by ``aria-labelledby``; text is #1d2433 or a line colour with at least 4.5:1 contrast on
white.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialogs.kernel.catalog import t
from web.console.queries import BINS, ChartData
from web.console.render import esc

WIDTH = 720
FONT = 13
TITLE_FONT = 16
TEXT = "#1d2433"
MUTED = "#4d5666"
GRID = "#dde2ea"
RED_LINE = "#a83236"  # 6.6:1 on white
BLUE_LINE = "#2f5a9e"  # 6.9:1 on white
BAR_ABOVE = "#2e7d4f"
BAR_BELOW = "#8894a8"
BAR_BIN = "#5b9a8b"  # neither line's colour: both lines stay visible over a bin
# Numbers drawn over a line stay legible: a white outline under the glyphs.
HALO = 'stroke="#ffffff" stroke-width="3" paint-order="stroke"'
ROW = 24


@dataclass(frozen=True)
class Box:
    """A label's white box in the SVG's coordinates (for the tests and the layout)."""

    x: float
    y: float
    width: float
    height: float

    def overlaps(self, other: Box) -> bool:
        return not (
            self.x + self.width <= other.x
            or other.x + other.width <= self.x
            or self.y + self.height <= other.y
            or other.y + other.height <= self.y
        )


def text_width(text: str, size: float = FONT) -> float:
    """A generous estimate of ``text``'s width at ``size`` px."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.62 for ch in text)


def _tx(lang: str, key: str, **values: object) -> str:
    return t(lang, f"console_web.{key}", **values)


def _fit(text: str, width: float) -> str:
    """``text`` cut (with an ellipsis) to at most ``width`` px by :func:`text_width`."""
    if text_width(text) <= width:
        return text
    while text and text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _label(x: float, y_mid: float, text: str, color: str, role: str, lo: float, hi: float) -> str:
    """A line's label centred on ``y_mid``, beside the line at ``x``, kept in ``lo``-``hi``:
    right of the line when it fits there, else left of it."""
    width = text_width(text) + 10
    height = FONT + 8
    left = x + 4 if x + 4 + width <= hi else max(lo, x - 4 - width)
    box = Box(left, y_mid - height / 2, width, height)
    return (
        f'<g class="chart-label" data-role="{role}">'
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
        f'height="{box.height:.1f}" rx="3" fill="#ffffff" stroke="{color}"/>'
        f'<text x="{box.x + 5:.1f}" y="{y_mid + FONT * 0.36:.1f}" fill="{color}" '
        f'font-size="{FONT}">{esc(text)}</text></g>'
    )


def _lines(lang: str, data: ChartData) -> list[tuple[str, float, str, str]]:
    """(role, value, label, colour) of the pass line and, when known, the job average."""
    out = [("pass", data.pass_line, _tx(lang, "chart_pass", value=f"{data.pass_line:g}"), RED_LINE)]
    if data.job_average is not None:
        out.append(
            (
                "average",
                data.job_average,
                _tx(lang, "chart_average", value=f"{data.job_average:.1f}"),
                BLUE_LINE,
            )
        )
    return out


def _svg(chart_id: str, height: float, title: str, desc: str, inner: str) -> str:
    return (
        f'<svg class="chart" id="{chart_id}" role="img" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" font-family="system-ui, sans-serif">'
        f'<title id="{chart_id}-t">{esc(title)}</title><desc id="{chart_id}-d">{esc(desc)}</desc>'
        f'<rect width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>'
        f'<text class="chart-title" x="12" y="{8 + TITLE_FONT:.0f}" fill="{TEXT}" '
        f'font-size="{TITLE_FONT}" font-weight="600">{esc(title)}</text>{inner}</svg>'
    )


def _x_axis(left: float, right: float, y: float) -> str:
    ticks = []
    for v in range(0, 101, 20):
        x = left + (right - left) * v / 100
        ticks.append(
            f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{y + 8 + FONT:.1f}" fill="{TEXT}" font-size="{FONT}" '
            f'text-anchor="middle">{v}</text>'
        )
    return (
        f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{MUTED}"/>'
        + "".join(ticks)
    )


def ranking_svg(lang: str, data: ChartData, matching: int) -> str:
    """Bars of the best candidates (best on top), the pass line and the job average."""
    title = _tx(lang, "chart_ranking_title", n=len(data.ranking), count=matching)
    lines = _lines(lang, data)
    left, right = 200.0, WIDTH - 56.0
    top = 8 + TITLE_FONT + 14.0
    rows = max(len(data.ranking), 1)
    bottom = top + ROW * (rows + len(lines)) + 6
    height = bottom + 8 + FONT + 12

    def x_of(value: float) -> float:
        return left + (right - left) * min(max(value, 0.0), 100.0) / 100

    parts, values = [], []
    if not data.ranking:
        parts.append(
            f'<text x="{left:.0f}" y="{top + ROW * 0.6:.1f}" fill="{MUTED}" '
            f'font-size="{FONT}">{esc(_tx(lang, "chart_empty"))}</text>'
        )
    for i, (cid, name, total) in enumerate(data.ranking):
        y = top + ROW * i
        color = BAR_ABOVE if total >= data.pass_line else BAR_BELOW
        label = _fit(f"{i + 1}. #{cid} {name}", left - 16)
        parts.append(
            f'<g class="chart-bar"><title>{esc(label)}: {total:.1f}</title>'
            f'<text x="{left - 8:.0f}" y="{y + ROW / 2 + FONT * 0.36:.1f}" fill="{TEXT}" '
            f'font-size="{FONT}" text-anchor="end">{esc(label)}</text>'
            f'<rect x="{left:.1f}" y="{y + 4:.1f}" width="{x_of(total) - left:.1f}" '
            f'height="{ROW - 8}" fill="{color}"/></g>'
        )
        values.append(
            f'<text x="{x_of(total) + 4:.1f}" y="{y + ROW / 2 + FONT * 0.36:.1f}" '
            f'fill="{TEXT}" font-size="{FONT}" {HALO}>{total:.1f}</text>'
        )
    for n, (role, value, text, color) in enumerate(lines):
        x = x_of(value)
        dash = "6 4" if role == "pass" else "2 3"
        parts.append(
            f'<line class="chart-line" data-role="{role}" x1="{x:.1f}" y1="{top:.1f}" '
            f'x2="{x:.1f}" y2="{bottom:.1f}" stroke="{color}" stroke-width="2" '
            f'stroke-dasharray="{dash}"/>'
        )
        y_mid = top + ROW * (rows + n) + ROW / 2
        parts.append(_label(x, y_mid, text, color, role, 8.0, WIDTH - 8.0))
    parts.append(f'<g class="chart-values">{"".join(values)}</g>')
    parts.append(_x_axis(left, right, bottom))
    desc = _tx(
        lang,
        "chart_ranking_desc",
        n=len(data.ranking),
        best="-" if not data.ranking else f"{data.ranking[0][2]:.1f}",
        pass_line=f"{data.pass_line:g}",
        average="-" if data.job_average is None else f"{data.job_average:.1f}",
    )
    return _svg("chart-ranking", height, title, desc, "".join(parts))


def histogram_svg(lang: str, data: ChartData) -> str:
    """How many candidates scored in each tenth of 0-100, with the two lines."""
    title = _tx(lang, "chart_histogram_title", count=sum(data.bins))
    lines = _lines(lang, data)
    left, right = 56.0, WIDTH - 24.0
    labels_top = 8 + TITLE_FONT + 12.0
    top = labels_top + ROW * len(lines)  # label rows, then the plot
    plot = 200.0
    bottom = top + plot
    height = bottom + 8 + FONT + 12
    peak = max(max(data.bins), 1)
    head = FONT + 6  # room for the count above the tallest bar
    step = (right - left) / BINS

    parts = [
        f'<text x="{left - 8:.0f}" y="{bottom:.1f}" fill="{TEXT}" font-size="{FONT}" '
        f'text-anchor="end">0</text>'
        f'<text x="{left - 8:.0f}" y="{top + head + FONT * 0.36:.1f}" fill="{TEXT}" '
        f'font-size="{FONT}" text-anchor="end">{peak}</text>'
        f'<line x1="{left:.1f}" y1="{top + head:.1f}" x2="{right:.1f}" y2="{top + head:.1f}" '
        f'stroke="{GRID}"/>'
    ]
    counts = []
    for i, n in enumerate(data.bins):
        h = (plot - head) * n / peak
        x = left + step * i
        low, high = i * 100 // BINS, (i + 1) * 100 // BINS
        parts.append(
            f'<g class="chart-bin"><title>{esc(_tx(lang, "chart_bin", low=low, high=high, n=n))}'
            f'</title><rect x="{x + 2:.1f}" y="{bottom - h:.1f}" width="{step - 4:.1f}" '
            f'height="{h:.1f}" fill="{BAR_BIN}"/></g>'
        )
        counts.append(
            f'<text x="{x + step / 2:.1f}" y="{bottom - h - 4:.1f}" fill="{TEXT}" '
            f'font-size="{FONT}" text-anchor="middle" {HALO}>{n}</text>'
        )
    for n, (role, value, text, color) in enumerate(lines):
        x = left + (right - left) * min(max(value, 0.0), 100.0) / 100
        dash = "6 4" if role == "pass" else "2 3"
        parts.append(
            f'<line class="chart-line" data-role="{role}" x1="{x:.1f}" y1="{labels_top:.1f}" '
            f'x2="{x:.1f}" y2="{bottom:.1f}" stroke="{color}" stroke-width="2" '
            f'stroke-dasharray="{dash}"/>'
        )
        parts.append(_label(x, labels_top + ROW * n + ROW / 2, text, color, role, 8.0, WIDTH - 8.0))
    parts.append(f'<g class="chart-counts">{"".join(counts)}</g>')
    parts.append(_x_axis(left, right, bottom))
    desc = _tx(
        lang,
        "chart_histogram_desc",
        bins="; ".join(
            f"{i * 100 // BINS}-{(i + 1) * 100 // BINS}: {n}" for i, n in enumerate(data.bins)
        ),
        pass_line=f"{data.pass_line:g}",
        average="-" if data.job_average is None else f"{data.job_average:.1f}",
    )
    return _svg("chart-histogram", height, title, desc, "".join(parts))
