"""Guards beside the judgment: surface material that earns nothing by itself (zh and en).

Answer templates for the common behavioural questions recite the four STAR labels,
fill them with buzzwords, repeated action verbs and bare percentages, and name no
actual event. :func:`template_signals` counts that material and the concrete details
an answer gives (a dated or placed event, counts and amounts that are not bare
percentages, named things); :func:`is_template` says when the "evidence" is only
padding. The scorer then caps the answer in the generic range and flags it
``template_answer``; it does not add anything for the same material.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from scoring import star_features as ft
from scoring.star_texts import Lang

_I = re.IGNORECASE

LABEL_EN = re.compile(
    r"(?:^|[\s.;])(?:situation|task|action|result|results|outcome|challenge)s?\s*[:：\-–—]", _I
)
LABEL_ZH = re.compile(r"(?:情境|情景|背景|任务|目标|行动|措施|结果|成果)\s*[:：]")
BUZZ_EN = re.compile(
    r"\b(leverag\w*|synerg\w*|proactive(ly)?|cross-functional|stakeholders?|best practices?|"
    r"end-to-end|data-driven|streamlin\w*|optimi[sz]\w*|spearhead\w*|holistic\w*|"
    r"strategic(ally)?|alignment|aligned|robust|scalable|impactful|value-add\w*|"
    r"seamless(ly)?|efficienc\w*|enhanc\w*|facilitat\w*|empower\w*|drove|driving|"
    r"key performance|kpis?|deliverables?|actionable|innovative|dynamic|results-oriented|"
    r"significantly|successfully|effectively|various|multiple)\b",
    _I,
)
BUZZ_ZH = re.compile(
    r"赋能|抓手|闭环|打通|颗粒度|对齐|沉淀|落地|链路|协同|全方位|多维度|高效|极大地|显著|"
    r"有效|成功地|积极|充分|全面|深入|系统性|方法论|最佳实践|利益相关方|跨部门|优化|提升效率|"
    r"推动|统筹|把控|多方|各项|相关工作"
)
PERCENT = re.compile(r"\d+(?:\.\d+)?\s*(?:%|percent)|百分之[一二三四五六七八九十百\d]+")
# A number that is not a percentage: a count, an amount, a duration, a date.
COUNT_EN = re.compile(
    r"\b\d[\d,.]*\s*(?!%|percent)[a-z]|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    r"twelve|twenty|thirty|fifty|hundred|thousand)\s+(?!percent)[a-z]{3,}",
    _I,
)
COUNT_ZH = re.compile(
    r"\d[\d,.]*\s*(?!%)[\u4e00-\u9fff]|[一二两三四五六七八九十百千万]+(?:个|名|位|家|次|天|周|个月|年|小时|分钟|万|元|块|人|页|份)"
)
SPECIFIC_TIME_EN = re.compile(
    r"\b(last|this|previous|that) (year|month|quarter|week|spring|summer|autumn|fall|winter)\b"
    r"|\b(19|20)\d{2}\b|\b\w+ (years?|months?|weeks?|days?) ago\b"
    r"|\bin (january|february|march|april|may|june|july|august|september|october|november|december)\b"
    r"|\b(january|february|march|april|may|june|july|august|september|october|november|december)\b"
    r"|\bone (day|morning|evening|friday|monday)\b|\bon (a|the) (friday|monday|tuesday|wednesday|thursday)\b",
    _I,
)
SPECIFIC_TIME_ZH = re.compile(
    r"去年|前年|今年|上个?月|上季度|上半年|下半年|那次|有一次|刚入职|"
    r"[一二两三四五六七八九十几\d]+(年|个月|周|天)(前|以前)|(19|20)\d{2}年|\d+月|[一二三四五六七八九十]+月份?|"
    r"年初|年底|春节|双十一|周[一二三四五六日]|星期[一二三四五六日天]"
)
_WORD_EN = re.compile(r"[A-Za-z][A-Za-z'-]+")


@dataclass(frozen=True)
class TemplateSignals:
    """Padding an answer contains and the concrete details it gives."""

    labels: int
    buzzwords: int
    repeated_verbs: int
    bare_percentages: int
    concrete: int
    padding_share: float

    @property
    def padding(self) -> int:
        return self.labels + self.buzzwords + self.repeated_verbs + self.bare_percentages


def _pick(lang: Lang, en: re.Pattern[str], zh: re.Pattern[str]) -> re.Pattern[str]:
    return zh if lang == "zh" else en


def _repeated_verbs(answer: str, lang: Lang) -> int:
    """How many extra times action verbs recur (each verb counts once)."""
    if lang == "zh":
        verbs = [m.group(0) for m in ft.ACTION_ZH.finditer(answer)]
    else:
        verbs = [m.group(0).lower() for m in ft.ACTION_EN.finditer(answer)]
        verbs += [m.group(0).lower() for m in BUZZ_EN.finditer(answer) if m.group(0).endswith("ed")]
    return sum(n - 1 for n in Counter(verbs).values() if n > 1)


def _bare_percentages(answer: str, lang: Lang) -> int:
    """Percentages in sentences that do not say from what to what (no described change)."""
    count = 0
    for sent in ft.sentences(answer):
        found = len(PERCENT.findall(sent))
        if not found:
            continue
        described = re.search(r"\bfrom\b.{1,30}\bto\b", sent, _I) or re.search(
            r"从.{1,16}(到|至)", sent
        )
        if not described:
            count += found
    return count


def _proper_nouns(answer: str) -> int:
    """Capitalised words inside English sentences (names of people, firms, products)."""
    count = 0
    skip = {"I", "I'm", "I've", "I'd", "STAR", "KPI", "KPIs"}
    for sent in ft.sentences(answer):
        words = _WORD_EN.findall(sent)
        for word in words[1:]:
            if word[0].isupper() and word not in skip and not LABEL_EN.match(" " + word + ":"):
                count += 1
    return count


def template_signals(answer: str, lang: Lang) -> TemplateSignals:
    """Count template material and concrete detail in the (cleaned) answer."""
    labels = len(_pick(lang, LABEL_EN, LABEL_ZH).findall(answer))
    buzz = _pick(lang, BUZZ_EN, BUZZ_ZH).findall(answer)
    bare = _bare_percentages(answer, lang)
    repeated = _repeated_verbs(answer, lang)
    concrete = len(_pick(lang, SPECIFIC_TIME_EN, SPECIFIC_TIME_ZH).findall(answer))
    concrete += len(_pick(lang, COUNT_EN, COUNT_ZH).findall(answer))
    if lang == "en":
        concrete += _proper_nouns(answer)
    units = max(ft.length_units(answer), 1.0)
    padding_units = labels + len(buzz) + repeated + bare
    return TemplateSignals(
        labels=labels,
        buzzwords=len(buzz),
        repeated_verbs=repeated,
        bare_percentages=bare,
        concrete=concrete,
        padding_share=padding_units / units,
    )


def is_template(signals: TemplateSignals) -> bool:
    """Padding without a concrete event: the answer's "evidence" is only template material.

    Labels or a run of buzzwords, repeated verbs and bare percentages, with fewer
    concrete details (a dated event, counts, amounts, names) than padding items.
    """
    if signals.concrete >= 3 and signals.concrete >= signals.padding:
        return False
    strong_form = signals.labels >= 3
    padded = signals.buzzwords + signals.repeated_verbs + signals.bare_percentages >= 4
    return (strong_form and signals.padding >= 5) or (padded and signals.concrete <= 1)


def padding_only(sentence: str, lang: Lang) -> bool:
    """A sentence that is only a label, buzzwords or a bare percentage (it earns nothing)."""
    stripped = _pick(lang, LABEL_EN, LABEL_ZH).sub(" ", sentence)
    stripped = _pick(lang, BUZZ_EN, BUZZ_ZH).sub(" ", stripped)
    stripped = PERCENT.sub(" ", stripped)
    left = ft.content_tokens(stripped)
    concrete = _pick(lang, SPECIFIC_TIME_EN, SPECIFIC_TIME_ZH).search(sentence) or _pick(
        lang, COUNT_EN, COUNT_ZH
    ).search(sentence)
    return not concrete and len(left) <= (4 if lang == "en" else 5)


__all__ = ["TemplateSignals", "is_template", "padding_only", "template_signals"]
