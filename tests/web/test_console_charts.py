"""The job page's SVG charts: both lines labelled, the labels clear of the title, the bars
and each other for 1, 2, 3 and 30 candidates, accessible names, zh and en."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from web.console.charts import TITLE_FONT, WIDTH, Box, histogram_svg, ranking_svg, text_width
from web.console.queries import ChartData

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def _title_box(root: ET.Element) -> Box:
    title = root.find("s:text[@class='chart-title']", NS)
    assert title is not None and title.text
    y = float(title.get("y", "0"))
    return Box(
        float(title.get("x", "0")),
        y - TITLE_FONT,
        text_width(title.text, TITLE_FONT),
        TITLE_FONT + 4,
    )


def _labels(root: ET.Element) -> dict[str, tuple[Box, str]]:
    out = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") != "chart-label":
            continue
        rect, text = g.find("s:rect", NS), g.find("s:text", NS)
        assert rect is not None and text is not None and text.text
        box = Box(*(float(rect.get(k, "0")) for k in ("x", "y", "width", "height")))
        assert box.width >= text_width(text.text)  # the white box holds the text
        out[g.get("data-role", "")] = (box, text.text)
    return out


def _bars(root: ET.Element, group: str) -> list[Box]:
    boxes = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") == group:
            rect = g.find("s:rect", NS)
            assert rect is not None
            boxes.append(Box(*(float(rect.get(k, "0")) for k in ("x", "y", "width", "height"))))
    return boxes


def _data(count: int, average: float | None, pass_line: float) -> ChartData:
    ranking = [
        (i + 1, f"候选人 {i + 1}" + ("·很长的名字" * 5 if i % 2 else ""), round(99.5 - i * 3.1, 1))
        for i in range(count)
    ]
    bins = [0] * 10
    for _, _, total in ranking:
        bins[min(9, int(total // 10))] += 1
    return ChartData(ranking=ranking, bins=bins, job_average=average, pass_line=pass_line)


CASES = [(1, 72.0, 70.0), (2, 69.0, 70.0), (3, 99.0, 100.0), (30, 1.0, 0.0), (3, None, 60.0)]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("count", "average", "pass_line"), CASES)
def test_ranking_labels_clear_the_title_the_bars_and_each_other(
    lang: str, count: int, average: float | None, pass_line: float
) -> None:
    root = _parse(ranking_svg(lang, _data(count, average, pass_line), count))
    labels = _labels(root)
    assert set(labels) == ({"pass", "average"} if average is not None else {"pass"})
    assert labels["pass"][1].endswith(f"{pass_line:g}")
    title = _title_box(root)
    bars = _bars(root, "chart-bar")
    assert len(bars) == count
    boxes = [box for box, _ in labels.values()]
    for box in boxes:
        assert not box.overlaps(title)
        assert box.x >= 0 and box.x + box.width <= WIDTH
        assert not any(box.overlaps(bar) for bar in bars)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    names = [
        t
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "chart-bar"
        for t in g.findall("s:text", NS)
    ]
    assert all(float(t.get("x", "0")) >= text_width(t.text or "") for t in names)  # not cut
    assert root.get("role") == "img" and root.get("aria-labelledby")
    assert root.find("s:title", NS) is not None and root.find("s:desc", NS) is not None


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("count", "average", "pass_line"), CASES)
def test_histogram_labels_clear_the_title_the_bars_and_each_other(
    lang: str, count: int, average: float | None, pass_line: float
) -> None:
    data = _data(count, average, pass_line)
    root = _parse(histogram_svg(lang, data))
    labels = _labels(root)
    title = _title_box(root)
    bins = _bars(root, "chart-bin")
    assert len(bins) == 10
    boxes = [box for box, _ in labels.values()]
    for box in boxes:
        assert not box.overlaps(title)
        assert box.x >= 0 and box.x + box.width <= WIDTH
        assert not any(box.overlaps(b) for b in bins if b.height > 0)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    counts = [
        int(t.text or "0")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "chart-counts"
        for t in g.findall("s:text", NS)
    ]
    assert counts == data.bins and sum(counts) == count
    desc = root.find("s:desc", NS)
    assert desc is not None and desc.text and f"{pass_line:g}" in desc.text


def test_chart_texts_are_escaped_and_localised() -> None:
    data = ChartData(
        ranking=[(7, '<script>"x"</script>', 80.0)],
        bins=[0] * 9 + [1],
        job_average=80.0,
        pass_line=70.0,
    )
    zh, en = ranking_svg("zh", data, 1), ranking_svg("en", data, 1)
    assert "<script>" not in zh and "&lt;script&gt;" in zh
    assert "及格线 70" in zh and "岗位平均分 80.0" in zh
    assert "Pass line 70" in en and "Job average 80.0" in en
    assert "分数分布" in histogram_svg("zh", data) and "distribution" in histogram_svg("en", data)
    empty = ChartData(ranking=[], bins=[0] * 10, job_average=None, pass_line=70.0)
    assert "No scored candidate" in ranking_svg("en", empty, 0)
