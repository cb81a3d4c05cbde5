"""The language model chooses among a segment's N-best hypotheses, in context.

Given the question, the job's vocabulary and a segment's hypotheses (the decoder's
best first, then its ``alternatives``), a :class:`HypothesisChooser` proposes the
text that fits. Whatever it proposes, :func:`supported` decides in code whether
it may be used: it must be one of the hypotheses, or a correction whose every
unit (a Chinese character, or a Latin word or number) appears in at least one
hypothesis and whose length lies between the shortest and the longest hypothesis'
(so it neither repeats nor drops what was heard). Anything else is rejected and
the decoder's best stays: the model may choose, never add content.

* :class:`LLMChooser`: the project's chat backend (``scoring.evaluator.ChatBackend``,
  the model of ``[llm]``), asked for JSON.
* :class:`RulesChooser`: no model; picks the hypothesis sharing the most character
  pairs with the question and vocabulary (benchmarks and tests without a model).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import EvaluationError
from scoring.raw_transcript import Alternative, RawTranscript, Segment

if TYPE_CHECKING:
    from scoring.evaluator import ChatBackend

log = logging.getLogger(__name__)

_UNIT = re.compile(r"[\u3400-\u9fff]|[a-z0-9]+(?:['’][a-z]+)?")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "choice": {"type": "integer", "minimum": 1, "maximum": 10},
        "text": {"type": "string", "maxLength": 400},
    },
    "required": ["choice"],
}

SYSTEM = (
    "You check a speech recogniser's output for a job interview answer. You get the "
    "interview question, words of the job, and numbered hypotheses for one stretch of the "
    "answer. Pick the hypothesis that best fits what the candidate most likely said. You may "
    "give a corrected text only if it is built from words found in the hypotheses; never add "
    'anything. Reply with JSON: {"choice": N} or {"choice": N, "text": "..."}.'
)


def units(text: str) -> list[str]:
    """The content units of a text: each Chinese character, each Latin word or number."""
    return _UNIT.findall(text.lower())


def supported(candidate: str, hypotheses: Sequence[str]) -> bool:
    """Whether ``candidate`` holds nothing the hypotheses do not support.

    True for any hypothesis itself; for a correction, every unit must occur in some
    hypothesis, and it may have neither more units than the longest hypothesis nor
    fewer than the shortest (a correction that drops half of what was heard is no
    correction).
    """
    if candidate in hypotheses:
        return True
    found = units(candidate)
    if not found:
        return False
    allowed = {u for h in hypotheses for u in units(h)}
    lengths = [len(units(h)) for h in hypotheses] or [0]
    return all(u in allowed for u in found) and min(lengths) <= len(found) <= max(lengths)


class HypothesisChooser(Protocol):
    """Proposes the text of a segment from its hypotheses (``None``: keep the first)."""

    @property
    def name(self) -> str: ...

    def propose(
        self, hypotheses: Sequence[str], *, language: str, question: str, vocabulary: Sequence[str]
    ) -> str | None: ...


class LLMChooser:
    """Asks the ``[llm]`` model (any :class:`~scoring.evaluator.ChatBackend`)."""

    def __init__(self, backend: ChatBackend) -> None:
        self._backend = backend

    @property
    def name(self) -> str:
        return f"llm:{self._backend.model_id}"

    def propose(
        self, hypotheses: Sequence[str], *, language: str, question: str, vocabulary: Sequence[str]
    ) -> str | None:
        numbered = "\n".join(f"{i}. {h}" for i, h in enumerate(hypotheses, 1))
        user = (
            f"Language: {language}\nQuestion: {question}\n"
            f"Job words: {', '.join(vocabulary)}\nHypotheses:\n{numbered}"
        )
        try:
            reply = self._backend.complete([("system", SYSTEM), ("user", user)], SCHEMA)
        except EvaluationError as exc:
            log.warning("hypothesis choice: model call failed, keeping the top beam: %s", exc)
            return None
        try:
            data = json.loads(reply)
            choice = int(data["choice"])
            text = str(data.get("text") or "").strip()
        except (ValueError, TypeError, KeyError):
            log.warning("hypothesis choice: invalid reply, keeping the top beam")
            return None
        if text:
            return text
        return hypotheses[choice - 1] if 1 <= choice <= len(hypotheses) else None


def _pairs(text: str) -> set[tuple[str, str]]:
    found = units(text)
    return set(zip(found, found[1:], strict=False))


class RulesChooser:
    """No model: the hypothesis sharing the most unit pairs with the context.

    Ties, and no overlap at all, keep the decoder's best.
    """

    @property
    def name(self) -> str:
        return "rules"

    def propose(
        self, hypotheses: Sequence[str], *, language: str, question: str, vocabulary: Sequence[str]
    ) -> str | None:
        context = _pairs(" ".join([question, *vocabulary]))
        overlap = [len(_pairs(h) & context) for h in hypotheses]
        best = max(range(len(hypotheses)), key=lambda i: (overlap[i], -i))
        return hypotheses[best] if best and overlap[best] > overlap[0] else None


def choose(
    raw: RawTranscript,
    chooser: HypothesisChooser,
    *,
    question: str,
    vocabulary: Sequence[str] = (),
) -> RawTranscript:
    """Let ``chooser`` settle each segment that has alternatives.

    A proposal that :func:`supported` rejects is logged and dropped (the segment
    keeps its text). When the text changes, the decoder's own best joins the
    segment's ``alternatives`` (first), so HR still sees what was heard, and
    ``extra["hypothesis_choice"]`` counts what happened.
    """
    counts = {"segments": 0, "changed": 0, "corrected": 0, "rejected": 0}
    out: list[Segment] = []
    for seg in raw.segments:
        if not seg.alternatives:
            out.append(seg)
            continue
        counts["segments"] += 1
        hypotheses = [seg.text, *(a.text for a in seg.alternatives)]
        proposal = chooser.propose(
            hypotheses, language=raw.language, question=question, vocabulary=vocabulary
        )
        if proposal is None or proposal.strip() == seg.text:
            out.append(seg)
            continue
        proposal = proposal.strip()
        if not supported(proposal, hypotheses):
            counts["rejected"] += 1
            log.info("hypothesis choice: a proposal not supported by the hypotheses was rejected")
            out.append(seg)
            continue
        counts["changed"] += 1
        counts["corrected"] += proposal not in hypotheses
        top = Alternative(text=seg.text, score=round(seg.avg_logprob, 4))
        rest = tuple(a for a in seg.alternatives if a.text != proposal)
        out.append(dataclasses.replace(seg, text=proposal, alternatives=(top, *rest)))
    extra = {**raw.extra, "hypothesis_choice": {"chooser": chooser.name, **counts}}
    return dataclasses.replace(raw, segments=out, extra=extra)
