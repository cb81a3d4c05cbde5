"""Message catalogues (zh, en): every user-facing text lives in ``locales/*.toml``."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
_DIR = Path(__file__).parent / "locales"


@cache
def _catalog(lang: str) -> dict[str, str]:
    data = tomllib.loads((_DIR / f"{lang}.toml").read_text(encoding="utf-8"))
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value)
            else:
                flat[name] = str(value)

    walk("", data)
    return flat


def keys(lang: str) -> set[str]:
    return set(_catalog(lang))


def normalize_language(value: str | None, default: str = "zh") -> str:
    """Map a platform locale ("zh-hans", "en-US") to a catalogue language."""
    if not value:
        return default
    value = value.lower()
    if value.startswith("zh"):
        return "zh"
    if value.startswith("en"):
        return "en"
    return default


def t(lang: str, key: str, /, **kwargs: Any) -> str:
    """The text for ``key`` in ``lang`` with ``{placeholders}`` filled.

    Raises:
        KeyError: for an unknown key (a test checks both catalogues have every key).
    """
    lang = lang if lang in LANGUAGES else "zh"
    text = _catalog(lang)[key]
    return text.format(**kwargs) if kwargs else text
