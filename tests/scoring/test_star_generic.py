"""Generic answers as a class (no concrete event told), zh and en, typed or spoken.

None of these answers is in the labelled YAML files: they are other members of the
classes, so the guard is tested on the class and not on the examples it was built from.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from scoring import star
from scoring import star_generic as g
from scoring.evaluator import FakeBackend, StarEvaluator
from scoring.star import AnswerInput, Evaluation

GENERIC = {
    # Polished, no "I always" cue, no label, no number: a method, not an event.
    "polished_en": (
        "en",
        "Good prioritisation begins with a clear view of every open commitment and its real "
        "deadline. From there, urgent and important items are separated from noise, owners are "
        "confirmed, and the plan is shared so that nobody is surprised when something moves.",
    ),
    "habitual_en": (
        "en",
        "I am a very organised and dedicated person. Whenever my manager gives me several tasks "
        "I usually write them down and tackle the hardest one first. I would also tell people "
        "early if something might slip, because I believe honesty builds trust.",
    ),
    "perfect_tense_en": (
        "en",
        "Throughout my career I have handled many demanding projects and I have learned that "
        "calm planning matters more than speed. Good teams communicate openly and support each "
        "other when pressure rises.",
    ),
    "spoken_en": (
        "en",
        "uh so for me like learning something new is mostly about practice you know you read a "
        "bit and then you try it and um you make mistakes and you learn from them and yeah "
        "asking questions helps a lot too",
    ),
    "polished_zh": (
        "zh",
        "面对多个同时推进的任务，先要列出所有事项和真实的截止时间，再区分紧急和重要，明确每件事的负责人，"
        "并把计划同步给相关同事，这样有变化时大家都不会措手不及。",
    ),
    "habitual_zh": (
        "zh",
        "我做事一向很认真。领导交代的任务，我一般会先记下来，先做最难的那件。如果可能延期，我会提前说明，"
        "因为我相信坦诚才能赢得信任。",
    ),
    "spoken_zh": (
        "zh",
        "嗯 学新东西的话 那个 我觉得主要还是多练 就是 先看一看资料 然后呢 自己动手试一试 错了就改 "
        "嗯 不懂的就问同事 反正 慢慢就会了",
    ),
}

REAL = {
    # Vague but real: a particular situation in the past, even without outcome or number.
    "vague_en": (
        "en",
        "At my previous job a supplier kept sending the wrong labels. I phoned them a couple of "
        "times and eventually it got sorted, I think.",
    ),
    "vague_spoken_en": (
        "en",
        "so um last summer one of our drivers quit in the middle of the week and uh I covered "
        "two of his routes myself and we got through it somehow you know",
    ),
    "no_number_en": (
        "en",
        "When I coordinated volunteers for a food bank, our van broke down on the morning of a "
        "big delivery. I borrowed a colleague's car, split the parcels between three volunteers' "
        "cars and rerouted them by neighbourhood. Every family on the list got their parcel "
        "that day.",
    ),
    "vague_zh": (
        "zh",
        "之前在物流公司的时候，有个仓库同事老是把单子填错。我找他聊了一次，后来好一些了吧。",
    ),
    "vague_spoken_zh": (
        "zh",
        "嗯 去年 那个 我们店里 有个顾客 买的鞋子 穿了一天就开胶了 然后 我就给她换了一双 "
        "她后来 嗯 还挺满意的",
    ),
    "no_number_zh": (
        "zh",
        "我在一家培训机构做课程顾问时，一位家长因为孩子换了老师要退费。我先听她讲完，又去听了新老师的一节课，"
        "然后约了家长和老师一起当面沟通，调整了上课方式。最后家长没有退费，还介绍了一位朋友来报名。",
    ),
}


def signals(answer: str, lang: str) -> g.EventSignals:
    prepared = star.prepare(AnswerInput(question="Q", answer=answer, lang=lang))
    return g.event_signals(prepared.clean_answer, prepared.lang)


@pytest.mark.parametrize("key", sorted(GENERIC))
def test_answers_that_tell_no_event_are_generic(key: str) -> None:
    lang, answer = GENERIC[key]
    assert g.is_generic(signals(answer, lang)), key


@pytest.mark.parametrize("key", sorted(REAL))
def test_real_situations_are_not_generic_even_when_vague(key: str) -> None:
    lang, answer = REAL[key]
    assert not g.is_generic(signals(answer, lang)), key


def test_adjectives_perfect_tense_and_habits_are_not_past_actions() -> None:
    found = signals(
        "I am very organised. I have finished many projects. I always called back.", "en"
    )
    assert found.past_actions == 0
    assert found.habitual >= 1
    told = signals("At my last job I called the client and rewrote the plan.", "en")
    assert told.past_actions == 2
    assert told.anchors == 1


def test_zh_opinion_does_not_hide_a_reported_action() -> None:
    # A spoken run-on: someone's opinion and the candidate's completed action in one breath.
    found = signals("去年经理觉得这个项目不赚钱 我调出了半年的数据 最后项目保留了下来", "zh")
    assert found.anchors >= 1
    assert found.past_actions >= 2


def lenient(answer: str) -> str:
    """A model reply that credits every sentence with a 5 (what a weak judge may do)."""
    count = len(
        star.answer_sentences(star.prepare(AnswerInput(question="Q", answer=answer)).clean_answer)
    )
    ids = list(range(1, min(count, 2) + 1))
    data: dict[str, Any] = {name: {"sentences": ids, "score": 5} for name in star.ELEMENTS}
    data.update({"events": [], "on_topic": True, "addresses_grader": False})
    return json.dumps(data)


def evaluate(answer: str, question: str) -> Evaluation:
    evaluator = StarEvaluator(FakeBackend([lenient(answer)]), max_retries=0)
    return evaluator.evaluate(AnswerInput(question=question, answer=answer, competency="customer"))


@pytest.mark.parametrize("key", sorted(GENERIC))
def test_generic_stays_in_the_generic_range_under_a_lenient_model(key: str) -> None:
    _, answer = GENERIC[key]
    result = evaluate(answer, "Tell me about a time you had to juggle several priorities.")
    assert result.total is not None
    assert result.total <= 40
    # The guard, not only the rules' evidence caps, holds it: no element above 1 but the task.
    assert all((result.star[name].score or 0) <= 1 for name in ("situation", "action", "result"))


@pytest.mark.parametrize(
    ("key", "question"),
    [
        ("vague_en", "Tell me about a time you handled a difficult supplier."),
        ("vague_spoken_zh", "请讲一个你处理难缠客户的经历。"),
    ],
)
def test_vague_real_answers_are_not_flagged_generic(key: str, question: str) -> None:
    _, answer = REAL[key]
    result = evaluate(answer, question)
    assert "generic_answer" not in result.flags
    assert result.total is not None
    assert result.total > 40


def test_a_generic_clause_does_not_cancel_the_told_actions_of_its_run_on() -> None:
    run_on = (
        "so at the depot the scanner kept freezing and I restarted it twice and I called the "
        "vendor and I think it helped a bit"
    )
    modes = g.clause_modes(run_on, "en")
    assert [generic for _, generic in modes].count(True) == 1
    assert "restarted" in g.narrative_part(run_on, "en")
    assert star.rule_sentences(run_on + ".", "en")["action"]
    # "...and set priorities" continues "I usually plan": it is a habit too.
    assert g.narrative_part("I usually plan my week and set priorities.", "en") == ""
    assert g.narrative_part("我一般先把任务拆开，然后排优先级。", "zh") == ""
