"""The language model choosing among N-best hypotheses: it may pick or correct, never add."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from core.errors import EvaluationError
from scoring.evaluator import FakeBackend, Messages
from scoring.hypothesis_choice import LLMChooser, RulesChooser, choose, supported, units
from scoring.raw_transcript import Alternative, RawTranscript, Segment

# Hand-written hypotheses for one Mandarin stretch: the decoder's best mishears 管理团队.
TOP = "我的工作是关离钻对，我们一起学习"
ALTS = ("我的工作是管理团队，我们一起学习", "我的工作是关理团对我们一起学习")
HYPOTHESES = [TOP, *ALTS]
QUESTION = "请介绍你管理团队的经历"


def raw_with(*segments: Segment, language: str = "zh") -> RawTranscript:
    return RawTranscript(segments=list(segments), language=language, model="fake:1")


def nbest_segment(text: str = TOP, alts: Sequence[str] = ALTS) -> Segment:
    return Segment(
        0.0,
        3.0,
        text,
        avg_logprob=-0.35,
        alternatives=tuple(Alternative(a, -0.4 - i / 10) for i, a in enumerate(alts)),
    )


def replying(*replies: dict[str, object]) -> LLMChooser:
    return LLMChooser(FakeBackend([json.dumps(r, ensure_ascii=False) for r in replies]))


def test_the_model_picks_a_hypothesis_and_the_top_beam_is_kept_for_hr() -> None:
    out = choose(raw_with(nbest_segment()), replying({"choice": 2}), question=QUESTION)
    seg = out.segments[0]
    assert seg.text == ALTS[0]
    assert [a.text for a in seg.alternatives] == [TOP, ALTS[1]]
    assert seg.alternatives[0].score == -0.35
    assert out.extra["hypothesis_choice"] == {
        "chooser": "llm:fake",
        "segments": 1,
        "changed": 1,
        "corrected": 0,
        "rejected": 0,
    }


def test_a_correction_built_from_the_hypotheses_is_accepted() -> None:
    # 管理 from one hypothesis, 团队 from another: every character is supported.
    fixed = "我的工作是管理团队我们一起学习"
    out = choose(raw_with(nbest_segment()), replying({"choice": 1, "text": fixed}), question="")
    assert out.segments[0].text == fixed


@pytest.mark.parametrize(
    "invented",
    [
        "我的工作是管理团队，我们一起学习Python",  # a word no hypothesis holds
        "我的工作是管理销售团队，我们一起学习",  # 销售: characters no hypothesis holds
        "我们的客户很满意",  # a different answer altogether
        TOP + TOP,  # longer than any hypothesis: repeats what was heard
    ],
)
def test_content_no_hypothesis_supports_is_never_added(invented: str) -> None:
    chooser = replying({"choice": 2, "text": invented})
    out = choose(raw_with(nbest_segment()), chooser, question=QUESTION, vocabulary=["Python"])
    assert out.segments[0].text == TOP
    assert out.segments[0].alternatives == nbest_segment().alternatives
    assert out.extra["hypothesis_choice"]["rejected"] == 1


def test_a_correction_that_drops_what_was_heard_is_rejected() -> None:
    out = choose(
        raw_with(nbest_segment()), replying({"choice": 2, "text": "管理团队"}), question=""
    )
    assert out.segments[0].text == TOP
    # ... while a hypothesis is always acceptable, whatever its length
    assert supported("我的", ["我的工作是管理团队", "我的"])


def test_english_corrections_are_checked_word_by_word() -> None:
    seg = nbest_segment(
        "we grew revenue by twenty percent", ["we grew revenues by twenty per cent"]
    )
    ok = choose(raw_with(seg, language="en"), replying({"choice": 1, "text": "we grew revenues by twenty percent"}), question="")  # fmt: skip
    assert ok.segments[0].text == "we grew revenues by twenty percent"
    bad = choose(raw_with(seg, language="en"), replying({"choice": 1, "text": "we grew revenue by thirty percent"}), question="")  # fmt: skip
    assert bad.segments[0].text == seg.text


def test_random_proposals_never_bring_an_unsupported_unit() -> None:
    allowed = {u for h in HYPOTHESES for u in units(h)}
    pool = sorted(allowed) + list("销售客户满意") + ["python", "kpi"]
    rng = random.Random(16)
    accepted = 0
    for _ in range(2000):
        proposal = "".join(rng.choice(pool) for _ in range(rng.randint(10, 18)))
        if supported(proposal, HYPOTHESES):
            accepted += 1
            assert set(units(proposal)) <= allowed
    assert accepted > 0  # the check is not vacuous


@pytest.mark.parametrize(
    "reply",
    ["not json", json.dumps({"choice": 9}), json.dumps({"text": "我的工作"}), json.dumps([2])],
)
def test_invalid_replies_keep_the_top_beam(reply: str) -> None:
    out = choose(raw_with(nbest_segment()), LLMChooser(FakeBackend([reply])), question="")
    assert out.segments[0].text == TOP


class FailingBackend:
    @property
    def model_id(self) -> str:
        return "down"

    def complete(self, messages: Messages, schema: dict[str, object]) -> str:
        raise EvaluationError("connection refused")


def test_a_model_that_cannot_be_reached_keeps_the_top_beam() -> None:
    out = choose(raw_with(nbest_segment()), LLMChooser(FailingBackend()), question="")
    assert out.segments[0].text == TOP
    assert out.extra["hypothesis_choice"]["changed"] == 0


def test_the_model_is_shown_question_vocabulary_and_numbered_hypotheses() -> None:
    backend = FakeBackend([json.dumps({"choice": 1})])
    plain = Segment(3.0, 4.0, "没有别的假设")
    choose(
        raw_with(nbest_segment(), plain), LLMChooser(backend), question=QUESTION, vocabulary=["项目经理"]
    )  # fmt: skip
    assert len(backend.calls) == 1  # the segment without alternatives is not asked about
    user = backend.calls[0][-1][1]
    assert QUESTION in user and "项目经理" in user
    assert f"1. {TOP}" in user and f"3. {ALTS[1]}" in user


def test_rules_chooser_prefers_the_hypothesis_that_fits_the_question() -> None:
    out = choose(raw_with(nbest_segment()), RulesChooser(), question=QUESTION)
    assert out.segments[0].text == ALTS[0]
    # No context: nothing to prefer, the decoder's best stays.
    same = choose(raw_with(nbest_segment()), RulesChooser(), question="")
    assert same.segments[0].text == TOP
