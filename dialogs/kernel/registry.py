"""The features of one application, merged from the one list in ``app/features.py``.

Built once at start-up; refuses two features declaring the same command, button
prefix, dialog, candidate state, HR-post key or job kind, and names that a platform or
the job queue would not take. The router asks it who handles an event; handlers reach
the parts other features declared (candidate states, HR-post buttons) through
:class:`dialogs.kernel.context.FeatureHooks`, which it implements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlmodel import Session

from core.errors import ConfigError
from dialogs.kernel.context import ApproveHook, CandidateStep, Ctx, Periodic, QuestionsGate
from dialogs.kernel.feature import (
    ButtonEntry,
    CandidateFlow,
    Command,
    Dialog,
    Feature,
    FileImporter,
)
from dialogs.kernel.intents import Button
from dialogs.kernel.timing import Planner, ReminderRule
from dialogs.kernel.worker import JobHandler
from storage.models import Candidate, InterviewSession, Invitation

# Telegram's rule for bot commands (WeChat takes the same text after "/").
COMMAND_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Button data is "prefix:..." and must fit Telegram's 64 bytes with room for the rest.
BUTTON_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,11}")
# Job kinds and flows are stored in the database: plain identifiers only.
STORED_NAME = re.compile(r"[a-z][a-z0-9_.]{0,63}")
FEATURE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

V = TypeVar("V")


class FeatureError(ConfigError):
    """Two features declare the same thing, or a name a platform would refuse."""


def _merge(
    what: str,
    pattern: re.Pattern[str] | None,
    parts: Iterable[tuple[str, Mapping[str, V]]],
) -> dict[str, V]:
    merged: dict[str, V] = {}
    owner: dict[str, str] = {}
    for feature, entries in parts:
        for name, value in entries.items():
            if pattern is not None and not pattern.fullmatch(name):
                raise FeatureError(f"feature {feature}: {what} {name!r} is not a valid name")
            if name in merged:
                raise FeatureError(
                    f"{what} {name!r} is declared by both {owner[name]} and {feature}"
                )
            merged[name] = value
            owner[name] = feature
    return merged


class Registry:
    """Every feature's declarations, merged; read-only after it is built."""

    def __init__(self, features: Sequence[Feature]) -> None:
        names = [f.name for f in features]
        for name in names:
            if not FEATURE_NAME.fullmatch(name):
                raise FeatureError(f"feature name {name!r} is not a valid name")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise FeatureError(f"feature {twice[0]!r} is listed twice")
        self.features = tuple(features)

        def each(attr: str) -> list[tuple[str, Mapping[str, Any]]]:
            return [(f.name, getattr(f, attr)) for f in features]

        self.commands: dict[str, Command] = _merge("command", COMMAND_NAME, each("commands"))
        self.buttons: dict[str, ButtonEntry] = _merge(
            "button prefix", BUTTON_PREFIX, each("buttons")
        )
        self.dialogs: dict[str, Dialog] = _merge("dialog", STORED_NAME, each("dialogs"))
        self.candidate_states: dict[str, CandidateStep] = _merge(
            "candidate state", STORED_NAME, each("candidate_states")
        )
        self.candidate_prompts: dict[str, CandidateStep] = _merge(
            "candidate prompt", STORED_NAME, each("candidate_prompts")
        )
        self.questions_gates: tuple[QuestionsGate, ...] = tuple(
            g for f in features for g in f.before_questions
        )
        self.candidate_commands: dict[str, CandidateStep] = _merge(
            "candidate command", COMMAND_NAME, each("candidate_commands")
        )
        finders = [f for f in features if f.invitation_finder is not None]
        if len(finders) > 1:
            raise FeatureError(
                f"invitation finder is declared by both {finders[0].name} and {finders[1].name}"
            )
        self.invitation_finder = finders[0].invitation_finder if finders else None
        self.post_button_factories = _merge("HR-post key", None, each("post_buttons"))
        self.jobs: dict[str, JobHandler] = _merge("job kind", STORED_NAME, each("jobs"))
        self.reminders: dict[str, ReminderRule] = _merge(
            "reminder kind", STORED_NAME, each("reminders")
        )
        self.reminder_planners: tuple[Planner, ...] = tuple(p for f in features for p in f.planners)
        self.files: tuple[FileImporter, ...] = tuple(i for f in features for i in f.files)
        fallbacks = [f for f in features if f.file_fallback is not None]
        if len(fallbacks) > 1:
            raise FeatureError(
                f"file fallback is declared by both {fallbacks[0].name} and {fallbacks[1].name}"
            )
        self.file_fallback: FileImporter | None = fallbacks[0].file_fallback if fallbacks else None
        self.periodic: tuple[Periodic, ...] = tuple(p for f in features for p in f.periodic)
        flows = [f for f in features if f.candidate_flow is not None]
        if len(flows) > 1:
            raise FeatureError(
                f"candidate flow is declared by both {flows[0].name} and {flows[1].name}"
            )
        self.candidate_flow: CandidateFlow | None = flows[0].candidate_flow if flows else None
        self.on_approved: tuple[ApproveHook, ...] = tuple(
            h for f in features for h in f.on_approved
        )

    # -- what the router asks ------------------------------------------------------
    def command(self, name: str) -> Command | None:
        return self.commands.get(name)

    def button(self, data: str) -> ButtonEntry | None:
        return self.buttons.get(data.split(":", 1)[0])

    def owns_button(self, data: str) -> bool:
        return self.button(data) is not None

    # -- FeatureHooks: what handlers ask -------------------------------------------
    def post_buttons(self, key: str, lang: str, values: dict[str, Any]) -> list[list[Button]]:
        factory = self.post_button_factories.get(key)
        return factory(lang, values) if factory is not None else []

    def candidate_step(self, state: str) -> CandidateStep | None:
        return self.candidate_states.get(state)

    def periodic_tasks(self) -> tuple[Periodic, ...]:
        return self.periodic

    def candidate_prompt(self, state: str) -> CandidateStep | None:
        return self.candidate_prompts.get(state)

    def before_questions(self, ctx: Ctx, s: InterviewSession) -> bool:
        return any(gate(ctx, s) for gate in self.questions_gates)

    def candidate_command(self, command: str) -> CandidateStep | None:
        return self.candidate_commands.get(command)

    def find_invitation(self, session: Session, token: str) -> Invitation | None:
        if self.invitation_finder is None:
            return None  # no feature hands out invitations: no link opens anything
        return self.invitation_finder(session, token)

    def begin_questions(self, ctx: Ctx, s: InterviewSession) -> None:
        if self.candidate_flow is None:
            raise FeatureError("no feature declares the candidate flow")
        self.candidate_flow.begin_questions(ctx, s)

    def reminder_rule(self, kind: str) -> ReminderRule | None:
        return self.reminders.get(kind)

    def planners(self) -> tuple[Planner, ...]:
        return self.reminder_planners

    def approved(self, ctx: Ctx, candidate: Candidate) -> None:
        for hook in self.on_approved:
            hook(ctx, candidate)

    # -- background jobs -------------------------------------------------------------
    def job_handlers(self, *more: tuple[str, Mapping[str, JobHandler]]) -> dict[str, JobHandler]:
        """The features' job handlers with ``more`` (owner, handlers) added, no kind twice."""
        return _merge("job kind", STORED_NAME, [("features", self.jobs), *more])
