"""The language table (``coding/languages.toml``): how to check and run a solution."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from coding.sandbox import Program

TABLE = Path(__file__).with_name("languages.toml")
HARNESS = Path(__file__).with_name("harness")


@dataclass(frozen=True)
class Language:
    key: str
    name: str
    file: str
    run: list[str]
    check: list[str] | None = None
    harness: str | None = None
    call: list[str] | None = None
    address_space_extra_mb: int | None = None
    memory_error: str | None = None

    def files(self, source: str) -> dict[str, str]:
        files = {self.file: source}
        if self.harness:
            files[self.harness] = (HARNESS / self.harness).read_text(encoding="utf-8")
        return files

    def program(self, source: str, argv: list[str]) -> Program:
        return Program(self.files(source), argv, self.address_space_extra_mb)

    @property
    def installed(self) -> bool:
        return Path(self.run[0]).exists()


@cache
def languages(path: Path = TABLE) -> dict[str, Language]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {key: Language(key=key, **entry) for key, entry in data.items()}


def language(key: str) -> Language:
    table = languages()
    if key not in table:
        raise ValueError(f"unknown language {key!r}; known: {', '.join(sorted(table))}")
    return table[key]
