"""What a bad-input case is, per surface, and the bad values the tables share.

Chat lines are written as :class:`tests.harness.Chat` reads them (``/press DATA`` is a
button); ``{done}``, ``{live}``, ``{fresh}``, ``{approved}`` are candidate ids of the world
(finished, mid-interview, invited only, approved) and ``{token_*}`` invitation tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

# A key ending in "…" means: the answer starts with that text (details follow it).
Expect = tuple[str, ...]


@dataclass(frozen=True)
class ChatCase:
    surface: str  # the command, button prefix, state or dialog step
    kind: str  # the kind of badness
    user: str  # staff user, "stranger", or "cand:STATE" (a candidate in that state)
    line: str
    expect: Expect  # catalogue keys, one per reply
    group: bool = False
    setup: tuple[str, ...] = ()  # lines sent first (their replies are not checked)
    teardown: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.surface}:{self.kind}"


# ------------------------------------------------------------------ weird values
# Values that are not a job code (none of them is "sales" or "ops").
NOT_A_CODE = {
    "unknown": "nojob",
    "sql": "sales';DROP_TABLE_job;--",
    "html": "<script>alert(1)</script>",
    "format": "{0}%s%n{job}",
    "too-long": "s" * 300,
    "nul": "sa\x00les",
    "control": "sa\x07\x1bles",
    "rtl": "\u202esales",
    "zero-width": "sa\u200bles",
    "emoji": "💼🔥",
    "fullwidth": "ｓａｌｅｓ",
    "chinese": "销售岗位",
    "digits": "１２",
    "25-digit": "1" * 25,
}
# Values that are not a candidate id (as a first argument).
NOT_AN_ID = {
    "fullwidth-id": "＃１５",
    "arabic-indic-id": "١٥",
    "25-digit-id": "1234567890123456789012345",
    "20-digit-id": "99999999999999999999",
    "negative-id": "-15",
    "zero-id": "0",
    "float-id": "15.0",
    "hex-id": "0x0F",
    "exp-id": "1e3",
    "unknown-id": "99999",
    "sql-id": "15;DROP",
    "html-id": "<b>15</b>",
    "emoji-id": "🙂",
    "nul-id": "15\x00",
    "rtl-id": "\u200f15",
    "format-id": "{0}",
}
# Free text that is bad wherever plain text is not expected.
WEIRD_TEXT = {
    "empty": "",
    "whitespace": "   \t ",
    "sql": "'; DROP TABLE candidate; --",
    "html": "<img src=x onerror=alert(1)>",
    "format": "{0} %s %(name)s {name!r}",
    "nul": "\x00",
    "control": "\x07\x1b[2J",
    "rtl": "\u202eenglish",
    "zero-width": "\u200b\u200b",
    "emoji": "🙂👍",
    "mixed-lang": "我 agree 同意 yes",
    "fullwidth": "ＥＮ",
}
TOO_LONG = "x" * 5000
