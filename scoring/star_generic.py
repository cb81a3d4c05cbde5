"""Generic answers as a class: does the answer tell a concrete event at all? (zh and en)

A behavioural question asks for one thing that happened. A generic answer, however long,
polished, typed or spoken, describes how the candidate usually is or would act and never
tells an event: no particular moment or place anchored in the past, no past action on a
specific thing, no state that changed. :func:`event_signals` counts those three kinds of
anchor in the (cleaned) answer, skipping sentences that speak in the habitual, the
hypothetical or as opinion ("I usually", "I would", "I believe", 我通常/我会/我认为);
:func:`is_generic` says when nothing of an event is left.

The counts look at the grammar of the telling (a past verb after its subject, a zh
clause with 了/过), not at any list of topics, so a vague but real situation ("at my last
job a customer kept calling; I talked to him and it got better") is not generic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scoring import star_features as ft
from scoring.star_texts import Lang

_I = re.IGNORECASE

# Habitual, hypothetical and opinion sentences do not tell an event.
HABITUAL_EN = re.compile(
    r"\b(always|usually|often|generally|normally|typically|tend to|tends to|whenever|"
    r"every time|each time|in general|as a rule|would|will|should|i believe|i think|i feel|"
    r"i find|i like to|i love to|i try to|my approach|if you|if a|if the|when a|when you|"
    r"the key is|the key to|it is important|it's important)\b",
    _I,
)
HABITUAL_ZH = re.compile(
    r"总是|通常|一般|经常|往往|常常|每次|每当|一向|一直都|向来|平时|"
    r"(?<![开机学社体聚晚例大])会(?!议|计|员|话|面|上|后|儿)|应该|如果|只要|要是|假如|"
    r"关键是|最重要|很重要|非常重要|我的做法|我的方法"
)
# Opinions: they tell no event unless the clause also reports something done (了/过).
OPINION_ZH = re.compile(r"我(?:一直|始终|也)?(?:觉得|认为|相信|喜欢)")
# Past-tense verbs that are not formed with -ed.
_IRREGULAR_WORDS = (
    "built wrote led made ran took met drove sent began brought found spoke taught chose "
    "held kept got gave did split cut put rewrote broke went told drew sold won rebuilt sat "
    "set flew bought paid saw came left lost fell rose grew caught heard thought knew said "
    "became spent stood understood forgot hung hid shut shot struck swore threw woke wore "
    "withdrew overtook undertook oversaw"
)
_IRREGULAR_PAST = set(_IRREGULAR_WORDS.split())
# -ed words that describe a person rather than an event.
_ADJ_ED = {
    "organised", "organized", "motivated", "detailed", "experienced", "skilled", "interested",
    "dedicated", "focused", "focussed", "committed", "balanced", "talented", "qualified",
    "reserved", "relaxed", "determined", "driven", "excited", "tired", "used", "supposed",
    "based", "related", "involved", "required", "needed", "advanced", "limited", "varied",
    "complicated", "sophisticated", "educated", "accomplished", "seasoned",
    "self-motivated", "well-organised", "well-organized", "need",
    "speed", "indeed", "proceed", "succeed", "exceed", "feed", "seed", "bed", "red", "shed",
}  # fmt: skip
# Words after which a past form is an adjective, a participle or an infinitive: not an event.
_NOT_AFTER = {
    "am", "is", "are", "be", "been", "being", "i'm", "very", "so", "too", "really", "quite",
    "more", "most", "less", "get", "gets", "getting", "feel", "feels", "stay", "stays",
    "remain", "remains", "have", "has", "i've", "we've", "to", "will", "would", "can",
    "should", "may", "might", "must", "a", "an", "the", "well", "highly", "fully", "always",
    "usually", "often", "generally", "normally", "typically", "never",
}  # fmt: skip
_WORD = re.compile(r"[a-z][a-z'’-]*", _I)
# zh clauses: a completed action (了/过 after a verb), or a narrative anchor.
_ZH_CLAUSE = re.compile(r"[^，,。！？!?；;、\s]+")
# Spoken zh runs clauses together: split also before the usual narrative connectives.
_ZH_CONNECTIVE = re.compile(
    r"(?=然后|接着|后来|最后|结果|所以|但是|不过|于是|并且|而且|还给|还把|还和)"
)
_EN_CLAUSE = re.compile(
    r"[,;:]|\b(?:and|but|so|because|then|while|after|before|which|until|although)\b", _I
)
_ZH_DONE = re.compile(r"(?<![为除了])了(?!解|不起|吧)|(?<![通经超不难度])过(?![程去来])")
_ZH_NARRATIVE = re.compile(
    r"当时|那时|那次|那天|那个月|那周|后来|第二天|第[一二三四五六七八九十\d]+天"
)
_CHANGE_EN = re.compile(
    r"\bfrom\b.{1,40}\bto\b|\b(fell|dropped|rose|grew|doubled|halved|shrank|went (up|down))\b",
    _I,
)
_CHANGE_ZH = re.compile(
    r"从.{1,16}(降|提|增|减|缩|涨|升|变)?(到|至|成)|(降|涨|升|减|提高|增加)(到|至)了?"
)


@dataclass(frozen=True)
class EventSignals:
    """What of a concrete event an answer tells."""

    anchors: int  # particular moments or places in the past
    past_actions: int  # distinct past actions on something, outside habitual sentences
    changes: int  # a state that changed (from ... to, fell, 降到)
    habitual: int  # sentences in the habitual, hypothetical or opinion mode

    @property
    def told(self) -> int:
        return self.past_actions + self.changes


def _en_past_verbs(sentence: str) -> set[str]:
    words = [w.lower().replace("’", "'") for w in _WORD.findall(sentence)]
    found: set[str] = set()
    for i, word in enumerate(words):
        past = word in _IRREGULAR_PAST or (
            len(word) >= 5 and word.endswith("ed") and word not in _ADJ_ED
        )
        if not past:
            continue
        before = words[i - 1] if i else ""
        if before in _NOT_AFTER:
            continue
        found.add(word)
    return found


def _zh_clauses(sentence: str) -> list[str]:
    return [
        part
        for clause in _ZH_CLAUSE.findall(sentence)
        for part in _ZH_CONNECTIVE.split(clause)
        if part
    ]


def _en_clauses(sentence: str) -> list[str]:
    return [part for part in _EN_CLAUSE.split(sentence) if part and part.strip()]


# A clause that names its own subject starts a new statement; one without continues the
# mode (habitual or not) of the clause before it: "I usually plan ahead and [I] set priorities".
_EN_SUBJECT = re.compile(
    r"^\s*(i|we|he|she|they|it|you|my|our|his|her|their|the|this|that|there|nobody|no one|"
    r"everyone|someone|(?-i:[A-Z][a-z]+))\b",
    _I,
)
_ZH_SUBJECT = re.compile(
    r"^(?:然后|接着|后来|最后|结果|所以|但是|不过|于是|并且|而且|还)?就?"
    r"(?:我|他|她|对方|客户|领导|经理|同事|大家)"
)


def clause_modes(sentence: str, lang: Lang) -> list[tuple[str, bool]]:
    """The sentence's clauses, each with whether it speaks generically (habit, opinion, rule).

    A run-on (typed or spoken) can join "I called the supplier" and "I think it helped"
    in one sentence; only the generic clause, and the subjectless clauses that continue
    it, are generic.
    """
    out: list[tuple[str, bool]] = []
    previous = False
    if lang == "zh":
        for clause in _zh_clauses(sentence):
            done = bool(_ZH_DONE.search(clause))
            generic = bool(HABITUAL_ZH.search(clause) or ft.generic_count(clause, "zh")) or (
                bool(OPINION_ZH.search(clause)) and not done
            )
            if not generic and previous and not done and not _ZH_SUBJECT.match(clause):
                generic = True
            out.append((clause, generic))
            previous = generic
        return out
    for clause in _en_clauses(sentence):
        generic = bool(HABITUAL_EN.search(clause) or ft.GENERIC_EN.search(clause))
        if not generic and previous and not _EN_SUBJECT.match(clause):
            generic = True
        out.append((clause, generic))
        previous = generic
    return out


def narrative_part(sentence: str, lang: Lang) -> str:
    """The clauses of a sentence that are not generic claims ("" when all are)."""
    kept = [c.strip() for c, generic in clause_modes(sentence, lang) if not generic]
    return ("，" if lang == "zh" else ", ").join(c for c in kept if c)


def event_signals(answer: str, lang: Lang) -> EventSignals:
    """Count the anchors of a concrete event in the cleaned answer."""
    sents = ft.sentences(answer)
    anchors = 0
    actions: set[str] = set()
    changes = 0
    habitual = 0
    for sent in sents:
        if lang == "zh":
            anchors += len(ft.TIME_ZH.findall(sent)) + len(_ZH_NARRATIVE.findall(sent))
        else:
            anchors += len(ft.TIME_EN.findall(sent))
            changes += len(_CHANGE_EN.findall(sent))
        for clause, generic in clause_modes(sent, lang):
            if generic:
                habitual += 1
            elif lang == "en":
                actions |= _en_past_verbs(clause)
            elif _CHANGE_ZH.search(clause):
                changes += 1
            elif _ZH_DONE.search(clause):
                actions.add(clause)
    return EventSignals(
        anchors=anchors, past_actions=len(actions), changes=min(changes, 2), habitual=habitual
    )


def is_generic(signals: EventSignals) -> bool:
    """No event is told: nothing happened, or one past verb with no anchor in time or place."""
    if signals.told == 0:
        return True
    return signals.anchors == 0 and signals.told < 2


__all__ = ["EventSignals", "clause_modes", "event_signals", "is_generic", "narrative_part"]
