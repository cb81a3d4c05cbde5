"""What a feature declares: its commands, buttons, importers, dialogs, candidate states,
background job kinds, HR-post buttons and periodic tasks.

A feature is one value, built where the feature lives and listed once in
``app/features.py``; nothing registers itself by being imported. The kernel's
:class:`~dialogs.kernel.registry.Registry` merges the list and refuses duplicates.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlmodel import Session

from dialogs.kernel.access import Access
from dialogs.kernel.channel import AnswerLimits
from dialogs.kernel.context import (
    ApproveHook,
    CandidateStep,
    Ctx,
    InvitationFinder,
    Periodic,
    PostButtons,
    QuestionsGate,
    Services,
)
from dialogs.kernel.events import CommandReceived
from dialogs.kernel.timing import Planner, ReminderRule
from dialogs.kernel.worker import JobHandler
from storage.models import ConversationState, InterviewSession

CommandHandler = Callable[[Ctx, CommandReceived], None]
# Adds a feature's sub-commands to ``python main.py`` (argparse's sub-parsers).
CliRegistrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
ButtonHandler = Callable[[Ctx], None]
# A file importer: True when it took the file (answered, imported or refused it).
FileImporter = Callable[[Ctx], bool]
DialogStep = Callable[[Ctx, ConversationState], None]


@dataclass(frozen=True)
class Command:
    """A staff command: what it needs (action and scope, checked first) and its handler."""

    access: Access
    handler: CommandHandler


@dataclass(frozen=True)
class ButtonEntry:
    """A button prefix (``prefix:...`` data): what pressing it needs and its handler."""

    access: Access
    handler: ButtonHandler


@dataclass(frozen=True)
class Dialog:
    """A staff dialog of several messages, stored as ``ConversationState.flow``; its
    access is checked again at every step (a role revoked meanwhile stops it)."""

    access: Access | None  # None: the step checks what it acts on itself
    step: DialogStep


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class CandidateFlow:
    """The candidate's side of the product (one feature provides it): the router hands it
    every event of a candidate with an interview, and start links and QR scans."""

    active_session: Callable[[Ctx], InterviewSession | None]
    handle: CandidateStep
    start: Callable[[Ctx, str], None]
    limits: Callable[[Session, Services, str, str], AnswerLimits | None]
    begin_questions: CandidateStep


@dataclass(frozen=True)
class Feature:
    """One feature of the product, declared in one place.

    Attributes:
        name: unique, lower case (shown in errors and ``dialogs/README.md``).
        commands: staff commands by name (``/name``), each with its declared scope.
        buttons: button handlers by prefix (the part of the data before ``:``).
        files: importers of documents staff send, tried in feature-list order.
        file_fallback: the importer when no other took the file (one feature only).
        dialogs: staff dialogs by ``ConversationState.flow``.
        candidate_states: interview-session states this feature owns, with the step
            that handles a candidate's event in that state.
        candidate_prompts: what to (re-)send a candidate in a state this feature owns.
        before_questions: steps between identity and the first question; one that
            returns True took the candidate over (it hands back with
            ``ctx.services.features.begin_questions``).
        candidate_commands: commands a candidate sends during an interview that this
            feature answers (``/mydata`` ...).
        invitation_finder: the invitation a start link's token opens (one feature only).
        cli: adds the feature's ``python main.py`` sub-commands (``register(subparsers)``).
        post_buttons: buttons added to HR-group posts of a catalogue key.
        jobs: background job handlers by kind (stored in the queue: never rename).
        periodic: tasks the scheduler's leader runs on every tick.
        on_approved: what to do when HR approves a candidate (same transaction).
        candidate_flow: the candidate's interview (exactly one feature declares it).
        reminders: the rule of each reminder kind it owns (stored: never rename a kind).
        planners: plan reminders nobody planned at creation (scheduler's leader, each tick).
    """

    name: str
    commands: Mapping[str, Command] = field(default_factory=dict)
    buttons: Mapping[str, ButtonEntry] = field(default_factory=dict)
    files: tuple[FileImporter, ...] = ()
    file_fallback: FileImporter | None = None
    dialogs: Mapping[str, Dialog] = field(default_factory=dict)
    candidate_states: Mapping[str, CandidateStep] = field(default_factory=dict)
    candidate_prompts: Mapping[str, CandidateStep] = field(default_factory=dict)
    before_questions: tuple[QuestionsGate, ...] = ()
    candidate_commands: Mapping[str, CandidateStep] = field(default_factory=dict)
    invitation_finder: InvitationFinder | None = None
    cli: CliRegistrar | None = None
    post_buttons: Mapping[str, PostButtons] = field(default_factory=dict)
    jobs: Mapping[str, JobHandler] = field(default_factory=dict)
    periodic: tuple[Periodic, ...] = ()
    on_approved: tuple[ApproveHook, ...] = ()
    reminders: Mapping[str, ReminderRule] = field(default_factory=dict)
    planners: tuple[Planner, ...] = ()
    candidate_flow: CandidateFlow | None = None

    def __post_init__(self) -> None:
        for name in (
            "commands",
            "buttons",
            "dialogs",
            "candidate_states",
            "candidate_prompts",
            "candidate_commands",
            "post_buttons",
            "jobs",
            "reminders",
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
