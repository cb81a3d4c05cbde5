"""What a person can see in a message: for telling empty answers from real ones."""

from __future__ import annotations

import unicodedata


def visible(text: str) -> str:
    """``text`` without control, format (zero-width, bidi marks) and separator characters.

    An answer of only such characters looks empty on every screen, so it is treated as
    empty: ``visible("\\u200b \\u202e") == ""``.
    """
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "CZ")


def has_hidden(text: str) -> bool:
    """Whether ``text`` holds control or format characters other than tab and newline."""
    return any(unicodedata.category(ch)[0] == "C" and ch not in "\t\n\r" for ch in text)
