"""A coding question's machine part: language, limits, starter code, the visible
examples, the hidden tests and an optional reference solution (stored as JSON on the
question; the statement is the question's zh/en text)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coding.judge import Case, Spec
from coding.languages import languages

MAX_SOURCE_CHARS = 50_000


class CodingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str = "python"
    time_limit_s: float = Field(2.0, gt=0, le=10)
    memory_mb: int = Field(256, ge=32, le=1024)
    starter: str = Field("", max_length=MAX_SOURCE_CHARS)
    examples: list[Case] = Field(default_factory=list, max_length=20)
    tests: list[Case] = Field(min_length=1, max_length=100)
    # a model solution: its times on the large tests are what efficiency is measured by
    reference: str = Field("", max_length=MAX_SOURCE_CHARS)

    @field_validator("language")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in languages():
            raise ValueError(f"unknown language; known: {', '.join(sorted(languages()))}")
        return value

    @model_validator(mode="after")
    def _names(self) -> CodingSpec:
        names = [c.name for c in [*self.examples, *self.tests]]
        if len(set(names)) != len(names):
            raise ValueError("test and example names must differ")
        return self

    def suite(self) -> Spec:
        """The examples (visible) then the hidden tests, as one judge spec."""
        cases = [c.model_copy(update={"hidden": False}) for c in self.examples]
        cases += [c.model_copy(update={"hidden": True}) for c in self.tests]
        return Spec(
            language=self.language,
            time_limit_s=self.time_limit_s,
            memory_mb=self.memory_mb,
            tests=cases,
        )

    def examples_suite(self) -> Spec | None:
        if not self.examples:
            return None
        return Spec(
            language=self.language,
            time_limit_s=self.time_limit_s,
            memory_mb=self.memory_mb,
            tests=self.examples,
        )
