"""N-best hypotheses per segment from faster-whisper (``[speech] nbest``).

faster-whisper returns only the best beam. CTranslate2's ``Whisper.generate``
can return several (``num_hypotheses`` with ``beam_size >= num_hypotheses``), so
each segment found by the normal pass is decoded once more on its own audio,
with faster-whisper's own feature extractor, tokenizer and prompt layout, and
the distinct hypotheses other than the segment's text are kept with their
scores. The extra pass costs one encoder run and one beam search per segment.
"""

from __future__ import annotations

from typing import Any

from scoring.audio import SAMPLE_RATE
from scoring.raw_transcript import Alternative, Segment

# Audio kept either side of a segment's timestamps (they are rounded, and VAD trims).
MARGIN_S = 0.2


def segment_hypotheses(
    model: Any,
    samples: Any,
    segment: Segment,
    *,
    language: str,
    k: int,
    beam_size: int,
    prompt: str | None = None,
) -> list[Alternative]:
    """Up to ``k`` hypotheses for ``segment``'s audio, best first, each with its score.

    Args:
        model: a loaded ``faster_whisper.WhisperModel``.
        samples: the answer's 16 kHz float32 samples (the segment's times index them).
        segment: a segment of the normal pass (its ``start``/``end`` in seconds).
        language: ``zh`` or ``en``.
        k: hypotheses wanted (1 or more).
        beam_size: beam width (raised to ``k`` if smaller).
        prompt: the same initial prompt as the normal pass (``decoder_prompt``).

    Returns:
        The hypotheses as decoded (not yet converted to Simplified), scores are
        the mean log-probability per token.
    """
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    first = max(0, int((segment.start - MARGIN_S) * SAMPLE_RATE))
    last = min(len(samples), int((segment.end + MARGIN_S) * SAMPLE_RATE))
    chunk = samples[first:last]
    if len(chunk) < SAMPLE_RATE // 10:
        return []
    # The encoder reads at most 30 s; a longer segment keeps its first 30 s.
    features = pad_or_trim(model.feature_extractor(chunk)[:, :3000])
    encoder_output = model.encode(features)
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
    tokens = model.get_prompt(tokenizer, previous, without_timestamps=True)
    result = model.model.generate(
        encoder_output,
        [tokens],
        beam_size=max(beam_size, k),
        num_hypotheses=k,
        return_scores=True,
        max_length=model.max_length,
        suppress_blank=True,
        suppress_tokens=[-1],
    )[0]
    found: list[Alternative] = []
    for ids, score in zip(result.sequences_ids, result.scores, strict=True):
        text = tokenizer.decode(ids).strip()
        if text and text not in {a.text for a in found}:
            found.append(Alternative(text=text, score=round(float(score), 4)))
    return found
