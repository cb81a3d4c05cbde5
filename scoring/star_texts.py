"""User-facing texts of the STAR evaluator, one dict per language.

Rationales and suggestions reach candidates and HR, so they live here (not inline in
the scoring logic) and can move to the engine's message catalogues later.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]

TEXTS: dict[Lang, dict[str, str]] = {
    "en": {
        "elem.situation": "Situation",
        "elem.task": "Task",
        "elem.action": "Action",
        "elem.result": "Result",
        "why.none": "no verified evidence in the answer",
        "why.quotes": "{n} verified quote(s)",
        "why.context": "concrete time or place",
        "why.numbers": "specific numbers",
        "why.ownership": "own goal or responsibility stated",
        "why.actions": "{n} first-person action(s)",
        "why.outcome": "outcome stated",
        "why.measured": "measurable outcome",
        "why.generic": "general claims rather than a concrete example",
        "why.model_lower": "the model rated it lower",
        "why.model_agrees": "the model agrees",
        "sug.situation": "Start with one concrete example: when and where it happened and who was involved.",
        "sug.task": "Say clearly what your own goal or responsibility was in that situation.",
        "sug.action": 'Walk through the specific steps you personally took, in order, and say "I" rather than "we".',
        "sug.result": "Finish with the outcome, in numbers if you can: time saved, money, customers or quality.",
        "sug.relevance": "Make sure your example answers the question that was asked.",
        "sug.too_short": "Give a fuller answer of one to two minutes covering the situation, your actions and the result.",
        "sug.unclear": "The recording was hard to understand; a quieter place and a steady pace will help.",
        "sug.strong": "Strong, well-structured answer. You could add what you learned and what you would do differently next time.",
        "sug.professional": "Keep the tone calm and precise; filler words and slang distract from your content.",
        "review.invalid": "the model output could not be validated after {n} attempt(s); a person should score this answer",
    },
    "zh": {
        "elem.situation": "情境",
        "elem.task": "任务",
        "elem.action": "行动",
        "elem.result": "结果",
        "why.none": "回答中没有可核实的证据",
        "why.quotes": "{n} 条已核实引文",
        "why.context": "有具体的时间或地点",
        "why.numbers": "有具体数字",
        "why.ownership": "说明了本人的目标或职责",
        "why.actions": "{n} 个本人采取的行动",
        "why.outcome": "说明了结果",
        "why.measured": "结果可衡量",
        "why.generic": "泛泛而谈，缺少具体事例",
        "why.model_lower": "模型给出的评价更低",
        "why.model_agrees": "模型评价一致",
        "sug.situation": "先讲一个具体的例子：什么时候、在哪里、涉及哪些人。",
        "sug.task": "说清楚在那个情况下你本人的目标或职责是什么。",
        "sug.action": "按顺序讲你本人具体做了哪些事，多用“我”而不是“我们”。",
        "sug.result": "最后说明结果，尽量用数字，例如节省了多少时间、金额，或增加了多少客户。",
        "sug.relevance": "请确认你举的例子正好回答了所问的问题。",
        "sug.too_short": "回答可以更完整一些，用一到两分钟讲清情境、你的行动和结果。",
        "sug.unclear": "录音不太清楚，换个安静的地方、语速平稳一些会更好。",
        "sug.strong": "回答结构清晰、很有说服力。还可以补充你从中学到了什么，下次会怎样做得更好。",
        "sug.professional": "语气保持平稳、准确，少用口头禅和俚语，让内容更突出。",
        "review.invalid": "模型输出经 {n} 次尝试仍无法通过校验，需要人工评分",
    },
}


def text(lang: Lang, key: str, **values: object) -> str:
    """The text for ``key`` in ``lang``, formatted with ``values``."""
    return TEXTS[lang][key].format(**values)
