"""Language features of answer text (zh and en) used by the deterministic STAR scorer.

Everything here is a pure function of text: sentence splitting, length, quote
normalisation, and cue detection (time and place, numbers, first-person actions,
task ownership, results, generic claims, filler, grader-directed instructions).
The lexicons are deliberately small and symmetrical across the two languages so
that the same story told in Chinese and in English gets the same features.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Literal

Lang = Literal["zh", "en"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*%?")
_SENT_SPLIT = re.compile(r"(?<=[。！？!?；;\n])|(?<=[.])(?=\s)")

# ---------------------------------------------------------------- basic text units


def detect_lang(text: str) -> Lang:
    """``zh`` when Chinese characters dominate, else ``en``."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    return "zh" if cjk and cjk >= latin else "en"


def sentences(text: str) -> list[str]:
    """Split into sentences, keeping their exact characters (verbatim evidence)."""
    return [s.strip() for s in _SENT_SPLIT.split(text) if s and s.strip()]


def length_units(text: str) -> float:
    """Length comparable across languages: English words, Chinese characters / 1.7."""
    return len(_LATIN_WORD.findall(text)) + len(_CJK.findall(text)) / 1.7


def normalise(text: str) -> str:
    """Case-, width-, space- and punctuation-insensitive form used to verify quotes."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


_STOP_EN = set(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "about",
        "as",
        "by",
        "from",
        "into",
        "over",
        "your",
        "you",
        "me",
        "my",
        "i",
        "we",
        "our",
        "us",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "do",
        "does",
        "did",
        "tell",
        "describe",
        "give",
        "example",
        "time",
        "when",
        "what",
        "how",
        "why",
        "which",
        "who",
        "whom",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "please",
        "one",
        "some",
        "any",
        "more",
        "most",
        "other",
        "such",
        "than",
        "then",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "so",
        "not",
        "no",
        "yes",
        "describe",
        "talk",
        "share",
        "walk",
        "through",
    ]
)
_STOP_ZH_BIGRAMS = {
    "一个",
    "一次",
    "什么",
    "如何",
    "怎么",
    "请你",
    "你的",
    "你是",
    "是否",
    "时候",
    "请描",
}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_tokens(text: str) -> set[str]:
    """Comparable tokens: stemmed English content words and Chinese character bigrams."""
    out: set[str] = set()
    for word in _LATIN_WORD.findall(text.lower()):
        if word not in _STOP_EN and len(word) > 2:
            out.add(_stem(word))
    for run in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff]+", text):
        for i in range(len(run) - 1):
            gram = run[i : i + 2]
            if gram not in _STOP_ZH_BIGRAMS:
                out.add(gram)
    return out


# ---------------------------------------------------------------- cue lexicons

_I = re.IGNORECASE

TIME_EN = re.compile(
    r"\b(last|this|previous|that) (year|month|quarter|week|spring|summer|autumn|fall|winter)\b"
    r"|\b(19|20)\d{2}\b|\b\d+ (years?|months?|weeks?|days?) ago\b|\bago\b"
    r"|\bwhen i (was|worked|joined|started|ran|led)\b|\bone (day|time)\b|(?<!\bat )\bonce\b(?! (again|more|and for all|in a while)\b)"
    r"|\bat (my|our) (previous|last|old|former|current|first)\b|\bin (january|february|march|april|may|june|july|august|september|october|november|december)\b",
    _I,
)
TIME_ZH = re.compile(
    r"去年|前年|今年|上个?月|上季度|上半年|下半年|当时|那时|那次|有一次|之前在|以前在|曾经|刚入职|入职|"
    r"上一(份|家|个)|上家|前一家|(之前|以前)的公司|[一二两三四五六七八九十几\d]+(年|个月|周|天)(前|以前)|"
    r"(19|20)\d{2}年|\d+月|[一二三四五六七八九十]+月份?|年初|年底|春节|双十一"
)
CONTEXT_EN = re.compile(
    r"\b(team|project|client|customer|company|department|manager|colleague|store|office|"
    r"startup|firm|account|product|release|launch|vendor|supplier|warehouse|branch|"
    r"deadline|system|software|database|report|contract|sales|order|meeting|proposal|"
    r"engineer|developer|shift|budget|revenue|margin|supplies|website|feature|ticket|"
    r"finance|purchasing|director|offer|price|delivery|guest|hotel|staff|employee|boss|"
    r"supervisor|payroll|bank|job|work|role|shop|restaurant|invoice|payslip)s?\b",
    _I,
)
CONTEXT_ZH = re.compile(
    r"团队|项目|客户|公司|部门|经理|同事|门店|办公室|创业|账户|产品|版本|上线|供应商|仓库|分公司|"
    r"截止|系统|软件|数据库|报表|合同|销售|订单|会议|开会|方案|工程师|开发|早班|预算|营收|利润|"
    r"网站|功能|工单|财务|采购|总监|报价|价格|发货|配送|客人|顾客|员工|领导|老板|主管|工资|薪资|"
    r"酒店|前台|银行|网点|工作|岗位|上班|发票"
)
NUMBER_EN = re.compile(
    r"\d|\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|dozen|half|double|doubled|percent)\b",
    _I,
)
NUMBER_ZH = re.compile(
    r"\d|百分之|翻倍|一半|[一二两三四五六七八九十百千万亿半]+(个|名|位|家|次|天|周|星期|个月|月|年|倍|小时|分钟|万|成|百分点|元|块)"
)
TASK_EN = re.compile(
    r"\bmy (goal|task|job|role|responsibility|target|objective|mission|assignment)\b"
    r"|\bi was (responsible|asked|tasked|assigned|expected|in charge)\b|\bi (needed|had|wanted) to\b"
    r"|\b(our|the) (goal|target|objective|deadline|task) was\b|\bneeded to\b|\bhad to\b"
    r"|\bresponsible for\b|\bin charge of\b"
    # the same duty in other words: "I had ten days to", "it was up to me", "I must"
    r"|\bi had (\w+ ){1,3}to\b|\bi (must|was to|had until)\b|\bit was (up to me|on me)\b"
    r"|\b(fell|was left) to me\b|\bi owned\b|\b(handed|gave|passed|left) (it|this|that) to me\b",
    _I,
)
TASK_ZH = re.compile(
    r"目标|任务|负责|职责|需要|要求|必须|得在|承担|我的工作是|我要|让我|"
    r"交给了?我|交由我|由我来|落到了?我|派我|安排我|叫我去|轮到我"
)
OWNER_EN = re.compile(r"\b(i|my|me)\b", _I)
OWNER_ZH = re.compile(r"我(?!们)")

_EN_IRREGULAR = (
    "built wrote led made ran took met drove sent began brought found spoke taught chose held "
    "kept got gave did split cut put rewrote broke went told drew sold won rebuilt sat set "
    "flew bought paid"
)
_EN_NOT_ACTION = {
    "needed", "wanted", "tried", "worked", "hoped", "liked", "loved", "felt", "seemed",
    "used", "interested", "excited", "worried", "tired", "motivated", "supposed", "based",
    "called-off", "happened", "related", "involved", "required", "expected", "asked",
    "tasked", "assigned", "learned", "helped", "handled", "managed", "joined", "started",
    "decided", "noticed", "realized", "realised", "believed", "stayed", "focused",
    "committed", "dedicated", "experienced", "skilled", "balanced", "detailed",
}  # fmt: skip
ACTION_EN = re.compile(r"\b([a-z]{3,}ed|" + "|".join(_EN_IRREGULAR.split()) + r")\b", _I)
ACTION_ZH = re.compile(
    r"打电话|打了电话|联系|拜访|约了|召集|组织|安排|制定|设计|开发|编写|写了|修改|改进|优化|重构|搭建|"
    r"建立|引入|推动|协调|说服|谈判|分析|调查|排查|梳理|拆分|整理|列出|列了|准备|培训|辅导|跟进|复盘|"
    r"测试|部署|提出|提交|汇报|申请|争取|调整|主导|带领|收集|访谈|对比|核对|检查|制作|发布|统计|"
    r"计算|审查|设立|启动|实施|落实|倾听|听取|道歉|解释|演示|邀请|画了|做了|发了|改了|查了|定了|"
    r"重新|召开|约见|面谈|沟通了|请教|录制|上门|带着|自动化|迁移|合并|对接|核实|比较|说明了"
)
SEQUENCE_EN = re.compile(
    r"^\s*(then|next|after that|afterwards|finally|first|second|also|and then)\b", _I
)
SEQUENCE_ZH = re.compile(r"^\s*(然后|接着|随后|之后|最后|首先|其次|同时|另外|并且|于是)")
VAGUE_ACTION_EN = re.compile(
    r"\b(worked (really )?hard|did (my|our) best|tried (my|our) best|handled it|took care of (it|things)|"
    r"dealt with it|sorted it out|did what was needed|helped out|worked on it|did everything|"
    r"made it work|figured it out|did some things|communicated (a lot|more|better))\b",
    _I,
)
VAGUE_ACTION_ZH = re.compile(
    r"努力|尽力|尽量|想办法|处理了一下|做了很多工作|做了一些|积极配合|多沟通|加强沟通|搞定|弄好了"
)
RESULT_EN = re.compile(
    r"\b(increas|reduc|decreas|sav|grew|grow|improv|rais|doubl|tripl|dropp|shorten|boost|"
    r"renew|achiev|exceed|beat|retain|recover|cut|halv|shrank|climb|lower)\w*\b"
    r"|\b(fell|rose|went (up|down))\b|\bas a result\b|\bin the end\b"
    # the outcome in other words: "finally he got his money back", "they no longer"
    r"|\b(finally|eventually|since then|from then on|by the end)\b|\bno longer\b"
    r"|\bstopped (\w+ing|complaining|calling)\b|\bgot (\w+ ){1,3}back\b"
    r"|\bresult(ed)?\b|\boutcome\b|\bended up\b|\bwon\b|\bsigned\b|\bon time\b"
    r"|\b(launched|shipped|delivered)\b.{0,20}\b(early|ahead)\b|\bahead of (schedule|time)\b",
    _I,
)
RESULT_ZH = re.compile(
    r"提高|提升|降低|减少|下降|节省|节约|增长|增加|缩短|翻倍|达成|达到|超额|续签|签下|签了|赢得|挽回|"
    r"留住|结果|最终|最后.{0,6}(了|到)|成功|按时|准时|如期|提前.{0,6}(上线|完成|交付)|"
    # a change told with a plain verb: 少了35%, 降了一半, 快了两天
    r"(少|多|降|涨|升|减|快|慢|短)了.{0,3}(\d|百分之|[一二两三四五六七八九十半]|一倍)"
)
COMPARE_EN = re.compile(r"\bfrom\s+\S+\s+(\S+\s+){0,3}to\s+\S+|\bby\s+\d|\d+\s*(%|percent)", _I)
COMPARE_ZH = re.compile(
    r"从.{1,14}(降|提|增|减|缩|涨|升)?(到|至)|\d+\s*%|百分之|比.{1,8}(多|少|高|低|快)"
)
GENERIC_EN = re.compile(
    r"\bi (always|usually|often|generally|normally|believe|think|feel|tend to|would|will|can)\b"
    r"|\bi('m| am) (a|an|very|good|great|really|always)\b"
    r"|\b(in general|generally|usually|typically|team player|hard[- ]working|detail[- ]oriented|"
    r"passionate|people person|i like to)\b",
    _I,
)
GENERIC_ZH = re.compile(
    r"我一直|我总是|我通常|我一般|我是一个|我比较|我觉得|我认为|我相信|我会|通常|一般来说|总的来说|"
    r"善于|擅长|认真负责|吃苦耐劳|团队合作精神|能力强|积极主动|我喜欢"
)
CONNECTIVE_EN = re.compile(
    r"\b(first|then|after that|next|finally|because|so that|therefore|as a result|however|"
    r"but|since|which meant|in the end)\b",
    _I,
)
CONNECTIVE_ZH = re.compile(r"首先|然后|接着|之后|最后|因为|所以|因此|结果|但是|不过|于是|同时|由于")
FILLER_EN = re.compile(r"\b(um+|uh+|erm|like,|you know|kinda|gonna|wanna|stuff|whatever|lol)\b", _I)
FILLER_ZH = re.compile(r"嗯+|呃+|那个那个|就是说|反正|然后呢|哈哈")
SLANG_EN = re.compile(r"\b(damn|hell|crap|shit|fuck\w*|sucks?|stupid|idiots?)\b", _I)
SLANG_ZH = re.compile(r"他妈|妈的|傻|蠢|垃圾|靠")
UNCLEAR_MARK = re.compile(
    r"\[(inaudible|unintelligible|noise|music|听不清|噪音|音乐)\]|\((inaudible|unintelligible)\)|�",
    _I,
)

# Grader-directed instructions (prompt injection), in both languages.
INJECTION = re.compile(
    r"(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+)*(previous|prior|above|earlier|system|former)?\s*"
    r"(instructions?|prompts?|rules?|guidelines?)"
    r"|\b(give|award|assign|rate|score|grade|mark)\s+(me|this( answer| response)?|the candidate|him|her|it)\s+"
    r"(a\s+|an\s+|the\s+)?(full|perfect|maximum|max|top|highest|high|5|10|100|five|ten)\b"
    r"|\bfull marks\b|\b(perfect|maximum|highest) score\b|\bscore(s)? (of )?(5|100)(/| out of)"
    r"|\byou are (now )?(an? |the )?(grader|evaluator|assistant|ai|language model|system)\b"
    r"|\b(output|return|assign|set|put)\s+(a\s+|the\s+)?(score|grade|marks?)\b"
    r"|\bsystem prompt\b|\bnew instructions?\b|\bas (an|the) (ai|grader|evaluator)\b"
    r"|\"?(score|total)\"?\s*:\s*\d"
    r"|忽略.{0,8}(指令|指示|要求|提示|规则)|无视.{0,8}(指令|指示|要求|规则)"
    r"|满分|最高分|打\s*(5|五|100|一百|十)\s*分|评(为|成)\s*(5|五|满|最高)"
    r"|你(现在)?(是|作为).{0,4}(评分|评估|打分|面试官|AI|人工智能|模型)|系统提示|新的指令"
    r"|(作为|你是).{0,3}(AI|人工智能|语言模型)",
    _I,
)
GRADER_CUE = re.compile(
    r"\b(score|grade|marks?|rating|grader|evaluator|ai|model|assistant|instructions?)\b|评分|分数|打分|满分|评估|模型|指令",
    _I,
)


def _pick(lang: Lang, en: re.Pattern[str], zh: re.Pattern[str]) -> re.Pattern[str]:
    return zh if lang == "zh" else en


def has_time(text: str, lang: Lang) -> bool:
    return bool(_pick(lang, TIME_EN, TIME_ZH).search(text))


def has_context(text: str, lang: Lang) -> bool:
    return bool(_pick(lang, CONTEXT_EN, CONTEXT_ZH).search(text))


def context_count(text: str, lang: Lang) -> int:
    return len(set(m.group(0).lower() for m in _pick(lang, CONTEXT_EN, CONTEXT_ZH).finditer(text)))


def has_number(text: str, lang: Lang) -> bool:
    return bool(_pick(lang, NUMBER_EN, NUMBER_ZH).search(text))


def has_task(text: str, lang: Lang) -> bool:
    return bool(_pick(lang, TASK_EN, TASK_ZH).search(text))


def has_owner(text: str, lang: Lang) -> bool:
    return bool(_pick(lang, OWNER_EN, OWNER_ZH).search(text))


def has_result(text: str, lang: Lang) -> bool:
    return bool(_pick(lang, RESULT_EN, RESULT_ZH).search(text))


def has_compare(text: str, lang: Lang) -> bool:
    return bool(_pick(lang, COMPARE_EN, COMPARE_ZH).search(text))


def is_vague_action(text: str, lang: Lang) -> bool:
    return bool(_pick(lang, VAGUE_ACTION_EN, VAGUE_ACTION_ZH).search(text))


def generic_count(text: str, lang: Lang) -> int:
    return len(_pick(lang, GENERIC_EN, GENERIC_ZH).findall(text))


def connective_count(text: str, lang: Lang) -> int:
    return len(_pick(lang, CONNECTIVE_EN, CONNECTIVE_ZH).findall(text))


def filler_count(text: str, lang: Lang) -> int:
    return len(_pick(lang, FILLER_EN, FILLER_ZH).findall(text))


def slang_count(text: str, lang: Lang) -> int:
    return len(_pick(lang, SLANG_EN, SLANG_ZH).findall(text))


def action_verbs(sentence: str, lang: Lang) -> set[str]:
    """Distinct action verbs in a sentence (not checking who the subject is)."""
    if lang == "zh":
        return {m.group(0) for m in ACTION_ZH.finditer(sentence)}
    return {
        m.group(0).lower()
        for m in ACTION_EN.finditer(sentence)
        if m.group(0).lower() not in _EN_NOT_ACTION
    }


def first_person_actions(snippets: list[str], lang: Lang) -> set[str]:
    """Action verbs in sentences whose subject is the candidate ("I"/"我", not "we").

    A sentence that starts with a sequencing word ("then", "然后") right after a
    first-person sentence continues it, since both languages drop the subject there.
    """
    owner = _pick(lang, re.compile(r"\bI\b"), OWNER_ZH)
    seq = _pick(lang, SEQUENCE_EN, SEQUENCE_ZH)
    found: set[str] = set()
    previous_first_person = False
    for snippet in snippets:
        first_person = bool(owner.search(snippet)) or (
            previous_first_person and bool(seq.search(snippet))
        )
        if first_person:
            found |= action_verbs(snippet, lang)
        previous_first_person = first_person
    return found


def injection_sentences(text: str) -> list[str]:
    """Sentences of the answer that address the grader rather than the question."""
    return [s for s in sentences(text) if INJECTION.search(s)]


def mentions_grader(text: str) -> bool:
    return bool(GRADER_CUE.search(text))


def repetition_ratio(text: str) -> float:
    """Share of the text taken by its most repeated 3-gram (transcription loops)."""
    tokens = _LATIN_WORD.findall(text.lower()) + _CJK.findall(text)
    if len(tokens) < 12:
        return 0.0
    grams = Counter(tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2))
    most = grams.most_common(1)[0][1]
    return most * 3 / len(tokens) if most >= 3 else 0.0


def has_unclear_marks(text: str) -> bool:
    return bool(UNCLEAR_MARK.search(text))


def fraction_garbled(text: str) -> float:
    """Share of visible characters that are neither letters, digits nor usual punctuation."""
    visible = [ch for ch in text if not ch.isspace()]
    if not visible:
        return 1.0
    odd = [
        ch
        for ch in visible
        if not (ch.isalnum() or unicodedata.category(ch).startswith("P") or ch in "%$¥€+-/")
    ]
    return len(odd) / len(visible)
