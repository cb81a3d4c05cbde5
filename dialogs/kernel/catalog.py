"""Message catalogues (zh, en): every user-facing text lives in a ``locales/*.toml``.

The kernel's own texts are in ``dialogs/kernel/locales``; each feature package keeps its
texts in its own ``locales`` folder (``dialogs/<feature>/locales/{zh,en}.toml``). Keys
are global (``section.name``) and stored in no database row, but a key defined twice is
an error: the catalogue refuses to load.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
_KERNEL = Path(__file__).parent
_DIALOGS = _KERNEL.parent


def catalogue_files(lang: str, root: Path = _DIALOGS) -> list[Path]:
    """The kernel's catalogue of ``lang``, then each feature package's, by name."""
    kernel = root / "kernel" / "locales" / f"{lang}.toml"
    features = sorted(
        path for path in root.glob(f"*/locales/{lang}.toml") if path.parent.parent.name != "kernel"
    )
    return [kernel, *features]


def load_catalogue(files: list[Path]) -> dict[str, str]:
    """Every key of ``files``, flattened (``section.name``).

    Raises:
        ValueError: a key is defined in two places.
    """
    flat: dict[str, str] = {}
    where: dict[str, Path] = {}

    def walk(prefix: str, node: dict[str, Any], path: Path) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value, path)
                continue
            if name in flat:
                raise ValueError(f"message key {name!r} is defined in {where[name]} and {path}")
            flat[name] = str(value)
            where[name] = path

    for path in files:
        walk("", tomllib.loads(path.read_text(encoding="utf-8")), path)
    return flat


@cache
def _catalog(lang: str) -> dict[str, str]:
    return load_catalogue(catalogue_files(lang))


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
