"""One sentence splitter for written and spoken answers (zh and en).

Speech recognisers and people typing the way they speak produce text with no
punctuation, clauses separated by spaces or by nothing at all, fillers (嗯, 呃,
那个, um, uh, you know) and false starts ("我我我们", "I I went"). The STAR scorer
reads sentences, so such an answer used to lose points for its form alone.

:func:`split` turns the verbatim text into sentences for scoring:

* with recogniser segments (``start``/``end`` seconds and ``text``, the shape
  ``main.py transcribe --json`` prints under ``segments``), a pause of
  ``PAUSE_S`` or more between segments ends a sentence and every segment is at
  least a clause;
* without them, punctuation ends sentences where there is some, and in long
  unpunctuated runs spaces are clause breaks and a clause that opens with a new
  subject or a discourse marker (我, 然后, 所以, "I", "so", "then" ...) starts a
  new sentence;
* fillers and immediate repetitions are removed from the cleaned sentence.

Each :class:`Sentence` keeps the verbatim span it came from (``start``/``end``
offsets into the original text), so evidence quoted from a cleaned sentence can be
shown to HR as, and verified against, the words the candidate really said.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Lang = Literal["zh", "en"]

PAUSE_S = 0.6  # a silence this long between recogniser segments ends a sentence
LONG_RUN_ZH = 40  # characters of Chinese with no sentence punctuation: spoken style
LONG_RUN_EN = 45  # words of English with no sentence punctuation: spoken style
MIN_CLAUSE_ZH = 6  # a Chinese clause shorter than this joins its neighbour
MIN_CLAUSE_EN = 4
MIN_SENTENCE_ZH = 14  # a sentence is not closed before it has this many characters
MIN_SENTENCE_EN = 8  # ... or words

_END = "。！？!?；;\n"
_END_RE = re.compile(r"(?<=[。！？!?；;\n])|(?<=[.])(?=\s)")

# Fillers: removed wherever they stand alone (zh) or as words (en).
FILLER_ZH = re.compile(
    r"[嗯呃啊额唔哦噢]+(?=[\s，,。、]|$)|^[嗯呃啊额唔哦噢]+|(?<=[\s，,、])[嗯呃啊额唔哦噢]+"
    r"|那个(?=那个)|那个[，,\s]|就是说[，,\s]?|然后呢[，,\s]?|怎么说呢[，,\s]?|你知道吗?[，,\s]?"
)
FILLER_ZH_CLAUSE_START = re.compile(r"^(?:(?:嗯|呃|啊|额|那个|就是|然后呢|反正|这个)[，,\s]*)+")
FILLER_EN = re.compile(
    r"\b(?:u+m+|u+h+|e+r+m*|a+h+|hmm+|mhm)\b[,.]?\s*"
    r"|,?\s*\byou know\b,?\s*|,?\s*\bI mean\b,\s*|(?<=[\s,])like,\s*|\bkind of\b\s*|\bsort of\b\s*",
    re.IGNORECASE,
)

# A clause that opens with one of these starts a new sentence in an unpunctuated run.
OPENER_ZH = re.compile(
    r"^(?:我|然后|接着|之后|后来|于是|所以|因此|结果|最后|最终|首先|其次|但是|不过|因为|当时|那时|"
    r"去年|今年|前年|上个月)"
)
OPENER_EN = re.compile(
    r"^(?:(?:and|but)\s+)?(?:I|we|then|so|after that|afterwards|finally|first|second|next|"
    r"as a result|in the end|because|last|at the end)\b",
    re.IGNORECASE,
)
# Where an unpunctuated English run may be cut (before "I", "and I", "then", "so" ...).
_EN_CUT = re.compile(
    r"\b(?:(?:and|but)\s+)?(?:(?:so|then|after that|afterwards|as a result|in the end|finally)\b|I\b)"
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*%?")
_REPEAT_ZH = re.compile(r"([\u4e00-\u9fff]{2,3})\1+")
_STUTTER_ZH = re.compile(r"(我们|我|他们|他|她|就是|然后|那个|这个|所以)(?:\s*\1)+")
_REPEAT_EN = re.compile(r"\b(\w+(?:\s+\w+)?)(?:[\s,]+\1\b)+", re.IGNORECASE)


@dataclass(frozen=True)
class Sentence:
    """A cleaned sentence and the span of the verbatim text it came from."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Split:
    """The verbatim text, its sentences and the cleaned text the scorer reads."""

    verbatim: str
    sentences: tuple[Sentence, ...]
    spoken: bool

    @property
    def clean_text(self) -> str:
        return join([s.text for s in self.sentences])

    def verbatim_of(self, clean_sentence: str) -> str:
        """The verbatim words behind a cleaned sentence (itself when not found)."""
        for sent in self.sentences:
            if sent.text == clean_sentence:
                return self.verbatim[sent.start : sent.end].strip()
        return clean_sentence


def join(sentences: Sequence[str]) -> str:
    """Sentences as one punctuated text (the written form the scorer reads)."""
    out: list[str] = []
    for sent in sentences:
        sent = sent.strip()
        if not sent:
            continue
        if sent[-1] not in _END + ".":
            sent += "。" if _CJK.search(sent[-1]) else "."
        out.append(sent)
    text = ""
    for sent in out:
        if text and text[-1] not in "。！？；":
            text += " "
        text += sent
    return text


def clean_clause(text: str, lang: Lang) -> str:
    """Remove fillers and immediate repetitions (false starts) from one clause."""
    if lang == "zh":
        text = FILLER_ZH_CLAUSE_START.sub("", text.strip())
        text = FILLER_ZH.sub(lambda m: "，" if m.group(0)[-1:] in "，," else "", text)
        # "我我我们" -> "我们", "就是就是" -> "就是"; keep doubled words such as 常常, 看看.
        text = _STUTTER_ZH.sub(lambda m: m.group(1), text)
        text = re.sub(r"我(?=我们)", "", text)  # "我我们" is a false start of "我们"
        text = _REPEAT_ZH.sub(lambda m: m.group(1), text)
        text = re.sub(r"^[，,、\s]+|[，,、\s]+$", "", text)
        text = re.sub(r"[，,]{2,}", "，", text)
    else:
        text = FILLER_EN.sub(" ", text)
        text = _REPEAT_EN.sub(lambda m: m.group(1), text)
        text = re.sub(r"\s{2,}", " ", text).strip(" ,")
    return text.strip()


def _is_spoken_run(text: str, lang: Lang) -> bool:
    """A stretch of text too long to be one written sentence."""
    if lang == "zh":
        return len(_CJK.findall(text)) >= LONG_RUN_ZH
    return len(_WORD.findall(text)) >= LONG_RUN_EN


def _clause_spans(verbatim: str, a: int, b: int, lang: Lang) -> list[tuple[int, int]]:
    """Clause spans of ``verbatim[a:b]``: spaces and commas, then (zh) before markers and 我."""
    text = verbatim[a:b]
    if lang == "zh":
        out: list[tuple[int, int]] = []
        for m in re.finditer(r"[^\s，,、]+", text):
            out.extend(_split_zh_run(verbatim, a + m.start(), a + m.end()))
        return out
    out = []
    for m in re.finditer(r"[^,]+", text):
        if m.group(0).strip():
            out.extend(_split_en_run(verbatim, a + m.start(), a + m.end()))
    return out


def _split_en_run(verbatim: str, a: int, b: int) -> list[tuple[int, int]]:
    """English with no commas: cut before "I", "then", "so" ... once a clause has some words."""
    text = verbatim[a:b]
    cuts = [0]
    for m in _EN_CUT.finditer(text):
        before = len(_WORD.findall(text[cuts[-1] : m.start()]))
        if before >= MIN_CLAUSE_EN and len(_WORD.findall(text[m.start() :])) >= 2:
            cuts.append(m.start())
    cuts.append(len(text))
    return [(a + x, a + y) for x, y in zip(cuts, cuts[1:], strict=False) if text[x:y].strip()]


_ZH_CUT = re.compile(r"(?=(?:然后|接着|后来|于是|所以|结果|最后|最终|但是|不过|因为|我(?!们)))")


def _split_zh_run(verbatim: str, a: int, b: int) -> list[tuple[int, int]]:
    """Chinese with neither punctuation nor spaces: cut before discourse markers and 我."""
    text = verbatim[a:b]
    if len(text) < 2 * MIN_CLAUSE_ZH:
        return [(a, b)]
    cuts = [0]
    for m in _ZH_CUT.finditer(text):
        if m.start() - cuts[-1] >= MIN_CLAUSE_ZH and len(text) - m.start() >= MIN_CLAUSE_ZH // 2:
            cuts.append(m.start())
    cuts.append(len(text))
    return [(a + x, a + y) for x, y in zip(cuts, cuts[1:], strict=False) if y > x]


def _group(verbatim: str, clauses: list[tuple[int, int]], lang: Lang) -> list[tuple[int, int]]:
    """Join clauses into sentences: a clause opening with a new subject or marker starts one."""
    opener = OPENER_ZH if lang == "zh" else OPENER_EN
    minimum = MIN_SENTENCE_ZH if lang == "zh" else MIN_SENTENCE_EN
    clause_min = MIN_CLAUSE_ZH if lang == "zh" else MIN_CLAUSE_EN
    groups: list[list[tuple[int, int]]] = []
    for a, b in clauses:
        cleaned = clean_clause(verbatim[a:b], lang)
        if not cleaned:
            if groups:
                groups[-1].append((a, b))
            continue
        size = len(_CJK.findall(cleaned)) if lang == "zh" else len(_WORD.findall(cleaned))
        current = groups[-1] if groups else None
        current_size = 0
        if current:
            joined = clean_clause(verbatim[current[0][0] : current[-1][1]], lang)
            current_size = len(_CJK.findall(joined)) if lang == "zh" else len(_WORD.findall(joined))
        if current and (not opener.search(cleaned) or current_size < minimum or size < clause_min):
            current.append((a, b))
        else:
            groups.append([(a, b)])
    return [(g[0][0], g[-1][1]) for g in groups]


def _sentence_from_span(verbatim: str, a: int, b: int, lang: Lang) -> Sentence | None:
    raw = verbatim[a:b]
    if lang == "zh":
        parts = [clean_clause(p, lang) for p in re.split(r"[\s，,、]+", raw)]
        text = "，".join(p for p in parts if p)
    else:
        text = clean_clause(raw, lang)
    if not text:
        return None
    lead = len(raw) - len(raw.lstrip())
    trail = len(raw) - len(raw.rstrip())
    return Sentence(text=text, start=a + lead, end=b - trail)


def split_text(verbatim: str, lang: Lang) -> Split:
    """Sentences from the text alone (typed answers, transcripts without timestamps)."""
    spans: list[tuple[int, int]] = []
    spoken = False
    pos = 0
    for chunk in _END_RE.split(verbatim):
        a, b = pos, pos + len(chunk)
        pos = b
        if not chunk.strip():
            continue
        if _is_spoken_run(chunk, lang):
            spoken = True
            spans.extend(_group(verbatim, _clause_spans(verbatim, a, b, lang), lang))
        elif lang == "zh" and re.search(r"[\u4e00-\u9fff]\s+[\u4e00-\u9fff]", chunk.strip()):
            spoken = True  # spaces between Chinese words are spoken clause breaks
            spans.extend(_group(verbatim, _clause_spans(verbatim, a, b, lang), lang))
        else:
            spans.append((a, b))
    sentences = [s for a, b in spans if (s := _sentence_from_span(verbatim, a, b, lang))]
    filler = FILLER_ZH if lang == "zh" else FILLER_EN
    spoken = spoken or bool(filler.search(verbatim))
    return Split(verbatim=verbatim, sentences=tuple(sentences), spoken=spoken)


def _field(segment: Mapping[str, Any] | Any, name: str) -> Any:
    if isinstance(segment, Mapping):
        return segment[name]
    return getattr(segment, name)


def split_segments(verbatim: str, lang: Lang, segments: Sequence[Any]) -> Split:
    """Sentences from recogniser segments: pauses end sentences, segments are clauses.

    Each segment's text is located in ``verbatim`` (in order); a segment that cannot be
    found there (the transcript was edited) makes this fall back to :func:`split_text`.
    """
    clauses: list[tuple[int, int, float, float]] = []
    pos = 0
    for seg in segments:
        seg_text = str(_field(seg, "text")).strip()
        if not seg_text:
            continue
        at = verbatim.find(seg_text, pos)
        if at < 0:
            return split_text(verbatim, lang)
        clauses.append(
            (at, at + len(seg_text), float(_field(seg, "start")), float(_field(seg, "end")))
        )
        pos = at + len(seg_text)
    if not clauses:
        return split_text(verbatim, lang)
    runs: list[list[tuple[int, int]]] = [[]]
    previous_end: float | None = None
    for a, b, start, end in clauses:
        if previous_end is not None and start - previous_end >= PAUSE_S and runs[-1]:
            runs.append([])
        inner = split_text(verbatim[a:b], lang)
        if len(inner.sentences) > 1 and inner.spoken is False:
            # the recogniser punctuated this segment itself: keep its sentences
            for inner_sent in inner.sentences:
                runs[-1].append((a + inner_sent.start, a + inner_sent.end))
                runs.append([])
        else:
            runs[-1].extend(_clause_spans(verbatim, a, b, lang))
        previous_end = end
    spans: list[tuple[int, int]] = []
    for run in runs:
        if run:
            spans.extend(_group(verbatim, run, lang))
    sentences = [s for a, b in spans if (s := _sentence_from_span(verbatim, a, b, lang))]
    return Split(verbatim=verbatim, sentences=tuple(sentences), spoken=True)


def split(verbatim: str, lang: Lang, segments: Sequence[Any] | None = None) -> Split:
    """Sentences for scoring from the verbatim answer (and recogniser segments if any)."""
    if segments:
        return split_segments(verbatim, lang, segments)
    return split_text(verbatim, lang)


__all__ = ["PAUSE_S", "Sentence", "Split", "clean_clause", "join", "split", "split_text"]
