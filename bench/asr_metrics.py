"""Accuracy figures shared by the ASR benchmarks: WER, CER and the printed line."""

from __future__ import annotations

import re
import unicodedata

Line = tuple[str, float, str]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two token lists."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


_NUMBERS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
    "6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten", "20": "twenty",
}  # fmt: skip


def words(text: str) -> list[str]:
    """English tokens for WER: lower case, no punctuation, small numbers spelled out."""
    text = text.lower().replace("%", " percent")
    tokens = re.findall(r"[a-z0-9']+", text)
    return [_NUMBERS.get(t, t) for t in tokens]


def hanzi(text: str) -> list[str]:
    """Chinese characters for CER (Simplified, digits as numerals, no punctuation)."""
    from scoring.transcribe import to_simplified

    text = to_simplified(text).translate(str.maketrans("0123456789", "〇一二三四五六七八九"))
    return [ch for ch in text if unicodedata.category(ch)[0] in "LN" and not ch.isascii()]


def error_rate(language: str, reference: str, hypothesis: str) -> float:
    """WER (en) or CER (zh) in percent."""
    split = words if language == "en" else hanzi
    ref, hyp = split(reference), split(hypothesis)
    return 100.0 * edit_distance(ref, hyp) / max(1, len(ref))


def _emit(lines: list[Line], name: str, value: float, unit: str) -> None:
    lines.append((name, value, unit))
    print(f"{name} {value:.4g} {unit}", flush=True)
