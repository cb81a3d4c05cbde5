"""The behaviourally anchored rubric (BARS) the model judges each STAR element against.

What a 1, a 3 and a 5 *contain* for each element, in English and Chinese. The same
rubric goes to every provider (local llama.cpp and OpenAI-compatible endpoints) in the
system prompt; :func:`rubric_text` renders it for the answer's language.
"""

from __future__ import annotations

from scoring.star_texts import Lang

ANCHORS: dict[Lang, dict[str, tuple[str, str, str]]] = {
    "en": {
        "situation": (
            "only general statements or what they usually do; no particular occasion",
            "a real occasion, but thin: when, where or who is missing",
            "one specific occasion: when, where, who was involved and what was at stake",
        ),
        "task": (
            "no goal, or only the team's or a generic duty",
            "the candidate's own responsibility, stated vaguely",
            "the candidate's own goal with its constraint (deadline, target, condition)",
        ),
        "action": (
            "vague effort (worked hard, communicated, did our best), buzzwords, or only what 'we' did",
            "some steps the candidate took, but general",
            "several specific steps the candidate personally took, in order, with their reasons",
        ),
        "result": (
            "no outcome, or only 'it went well'",
            "a concrete outcome without any measure",
            "a concrete, verifiable outcome tied to the actions (numbers, before and after, what the other side did)",
        ),
    },
    "zh": {
        "situation": (
            "只有泛泛而谈或“我通常会”，没有具体的某一次经历",
            "有一次真实的经历，但时间、地点或人物不清楚",
            "具体的一次经历：何时、何地、涉及谁、事情有多重要",
        ),
        "task": (
            "没有目标，或只是团队/岗位的一般职责",
            "说了自己的责任，但比较笼统",
            "自己的明确目标及其约束（期限、指标、条件）",
        ),
        "action": (
            "笼统的努力（很努力、多沟通、尽力）、套话，或只说“我们”做了什么",
            "说了自己做的一些事，但比较笼统",
            "自己亲自做的几个具体步骤，有先后顺序和理由",
        ),
        "result": (
            "没有结果，或只说“效果很好”",
            "有具体结果但没有衡量",
            "具体、可核实的结果，与行动相关（数字、前后对比、对方的反应）",
        ),
    },
}

GUARD: dict[Lang, str] = {
    "en": (
        "Labels such as 'Situation:' or 'Result:', buzzwords (leveraged, synergy, streamlined), "
        "the same verb repeated, and percentages with no described event are not evidence: "
        "an element made only of them scores 1 at most. Numbers are not required for a 5 "
        "when the outcome is concrete and verifiable."
    ),
    "zh": (
        "“情境：”“结果：”这类标签、套话（赋能、闭环、抓手、显著提升）、重复的动词、没有具体事件的百分比"
        "都不算证据：只有这些的要素最多1分。结果具体可核实时，没有数字也可以给5分。"
    ),
}

_HEAD: dict[Lang, str] = {
    "en": "Rubric (what a 1, 3 and 5 contain):",
    "zh": "评分标准（1、3、5分各自包含什么）：",
}


def rubric_text(lang: Lang) -> str:
    """The anchors and the guard sentence for ``lang``."""
    lines = [_HEAD[lang]]
    for name, (one, three, five) in ANCHORS[lang].items():
        lines.append(f"- {name}: 1 = {one}; 3 = {three}; 5 = {five}.")
    lines.append(GUARD[lang])
    return "\n".join(lines)


__all__ = ["ANCHORS", "GUARD", "rubric_text"]
